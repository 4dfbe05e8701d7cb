"""`python -m espnet2_ext.bin.asr_inference`: stock `espnet2.bin.asr_inference`, timed for RTF."""

from typing import Optional, Sequence

from espnet2_ext.bin.timing import run_timed

import espnet2.bin.asr_inference as stock  # noqa: E402  (after the registrations)


def main(cmd: Optional[Sequence[str]] = None) -> None:
    run_timed(stock, "Speech2Text", cmd)


if __name__ == "__main__":
    main()
