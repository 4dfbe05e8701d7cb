"""`python -m espnet2_ext.bin.slu_inference`: stock `espnet2.bin.slu_inference`, timed for RTF."""

from typing import Optional, Sequence

from espnet2_ext.bin.timing import run_timed

import espnet2.bin.slu_inference as stock  # noqa: E402  (after the registrations)


def main(cmd: Optional[Sequence[str]] = None) -> None:
    run_timed(stock, "Speech2Understand", cmd)


if __name__ == "__main__":
    main()
