"""`python -m espnet2_ext.bin.rewire_train`: self-supervised rewiring of an upstream (espnet2_ext.rewire)."""

from typing import Optional, Sequence

from espnet2_ext.errors import cli_entry
from espnet2_ext.tasks import RewireTask


@cli_entry
def main(cmd: Optional[Sequence[str]] = None) -> int:
    RewireTask.main(cmd=cmd)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
