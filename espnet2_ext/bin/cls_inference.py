"""`python -m espnet2_ext.bin.cls_inference`: stock `espnet2.bin.cls_inference`, timed for RTF.

It builds models with the project's CLSTask, whose ``build_model`` honours ``--model`` (e.g.
``ctx_aware``); ESPnet's CLSTask declares ``model_choices`` but always builds its own model.
"""

from typing import Optional, Sequence

from espnet2_ext.bin.timing import run_timed
from espnet2_ext.tasks import CLSTask

import espnet2.bin.cls_inference as stock  # noqa: E402  (after the registrations)

stock.CLSTask = CLSTask
Classification = stock.Classification


def main(cmd: Optional[Sequence[str]] = None) -> None:
    run_timed(stock, "Classification", "classification_model", cmd)


if __name__ == "__main__":
    main()
