"""`python -m espnet2_ext.bin.hubert_train`: stock `espnet2.bin.hubert_train`, kept offline."""

from typing import Optional, Sequence

from espnet2_ext.tasks import HubertTask


def main(cmd: Optional[Sequence[str]] = None) -> None:
    HubertTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
