"""`python -m espnet2_ext.bin.asr_train`: stock `espnet2.bin.asr_train` plus the project's classes."""

from typing import Optional, Sequence

from espnet2_ext.tasks import ASRTask


def main(cmd: Optional[Sequence[str]] = None) -> None:
    ASRTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
