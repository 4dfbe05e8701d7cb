"""`python -m espnet2_ext.bin.score_train`: SCORE fine-tuning of an upstream (espnet2_ext.score)."""

from typing import Optional, Sequence

from espnet2_ext.tasks import ScoreTask


def main(cmd: Optional[Sequence[str]] = None) -> None:
    ScoreTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
