"""`python -m espnet2_ext.bin.slu_train`: stock `espnet2.bin.slu_train` plus the project's classes."""

from typing import Optional, Sequence

from espnet2_ext.tasks import SLUTask


def main(cmd: Optional[Sequence[str]] = None) -> None:
    SLUTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
