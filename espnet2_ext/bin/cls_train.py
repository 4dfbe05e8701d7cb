"""`python -m espnet2_ext.bin.cls_train`: stock `espnet2.bin.cls_train` plus the project's classes."""

from typing import Optional, Sequence

from espnet2_ext.tasks import CLSTask


def main(cmd: Optional[Sequence[str]] = None) -> None:
    CLSTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
