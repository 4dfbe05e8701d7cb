"""Export the upstream a tuning run trained (SCORE, rewiring) as one that ``frontend_conf.weights`` loads.

    python -m espnet2_ext.ssl.tuned_export exp/score_train_score --out exp/score_train_score/upstream.pth

The run's model holds the tuned upstream as its ``frontend`` (``ssl_upstream``); the rest of the
model (SCORE's projection and teacher) is dropped. The architecture is the starting upstream's
(from the run's ``frontend_conf``) with that upstream's own dropouts: the run's regularisation
overrides (e.g. no layer drop while tuning) are settings of the run, not of the upstream it hands on.
``summary.md`` beside the file gives the run's updates, training time and validation loss.
"""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch
import yaml

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.ssl.export import export_run, parse_export_args
from espnet2_ext.upstream.checkpoints import REGULARISATION_KEYS, upstream_config

STUDENT_PREFIX = "frontend.upstream."
METRICS = ("loss",)


def student_state(checkpoint: Path) -> Dict[str, torch.Tensor]:
    """The tuned upstream's weights in a tuning run's model checkpoint (ESPnet's ``*.pth``)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    student = {k[len(STUDENT_PREFIX):]: v for k, v in state.items() if k.startswith(STUDENT_PREFIX)}
    if not student:
        raise DataError(f"{checkpoint}: not a checkpoint of a model that tunes an ssl_upstream frontend "
                        f"(no '{STUDENT_PREFIX}*' weights)")
    return student


def starting_config(train_config: Path) -> Dict[str, Any]:
    """The wav2vec2_model config of the run's starting upstream, without its regularisation
    overrides."""
    if not train_config.is_file():
        raise DataError(f"{train_config}: missing; is {train_config.parent} an upstream tuning experiment?")
    frontend_conf = (yaml.safe_load(train_config.read_text(encoding="utf-8")) or {}).get("frontend_conf") or {}
    shaping = {k: v for k, v in (frontend_conf.get("arch_conf") or {}).items() if k not in REGULARISATION_KEYS}
    return upstream_config(frontend_conf.get("weights", "random"), frontend_conf.get("arch"), shaping)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_export_args(argv, __doc__, "the tuning task's training (run from its recipe dir)",
                             "valid.loss.best.pth", "lowest validation loss")
    export_run(args, starting_config(args.exp / "config.yaml"), student_state(args.source), METRICS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
