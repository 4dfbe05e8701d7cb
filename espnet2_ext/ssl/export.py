"""Export the upstream of a hubert_train experiment in the project's compact format, with a summary.

    python -m espnet2_ext.ssl.export exp/hubert_km100_it1 --out exp/hubert_km100_it1/upstream.pth

The file holds the encoder config, its weights (the pretraining head is dropped) and provenance:
epochs, updates, the validation masked-prediction accuracy per epoch and the training time,
read from ESPnet's own reporter in ``checkpoint.pth``. ``summary.md`` beside it shows the same.
"""

import argparse
import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import torch

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.upstream.checkpoints import build_and_load, export_upstream, read_checkpoint

_LOG = logging.getLogger(__name__)
METRICS = ("acc_m", "loss")


def training_summary(exp: Path, metrics: Sequence[str] = METRICS) -> Dict[str, Any]:
    """Epochs, updates, train time and the validation ``metrics`` per epoch of an ESPnet run."""
    path = exp / "checkpoint.pth"
    if not path.is_file():
        raise DataError(f"{path}: missing; is training of {exp} finished?")
    reporter = torch.load(path, map_location="cpu", weights_only=False)["reporter"]
    stats = reporter["stats"]
    epochs = sorted(stats)
    # ESPnet's reporter keeps ``total_count`` cumulative over epochs, and ``time`` is the wall
    # time of the epoch's training part.
    train_seconds = sum(stats[e]["train"]["time"].total_seconds() for e in epochs)
    return {
        "epochs": len(epochs),
        "updates": int(stats[epochs[-1]]["train"]["total_count"]),
        "train_hours": round(train_seconds / 3600, 3),
        **{f"valid_{m}": [round(float(stats[e]["valid"][m]), 4) for e in epochs] for m in metrics},
    }


def write_summary(info: Dict[str, Any], path: Path, metrics: Sequence[str] = METRICS) -> None:
    """``summary.md``: the run's length and its validation ``metrics`` per epoch."""
    names = {"acc_m": "valid masked accuracy", "loss": "valid loss"}
    columns = [info[f"valid_{m}"] for m in metrics]
    rows = "\n".join(
        f"| {e + 1} | " + " | ".join(f"{v:.3f}" for v in values) + " |"
        for e, values in enumerate(zip(*columns))
    )
    header = " | ".join(names.get(m, f"valid {m}") for m in metrics)
    path.write_text(
        f"# {info['source']}\n\n"
        f"{info['epochs']} epochs, {info['updates']} updates, {info['train_hours']} h of training "
        f"(wall time of the training epochs).\n\n"
        f"| epoch | {header} |\n|---{'|---' * len(metrics)}|\n{rows}\n",
        encoding="utf-8",
    )


def parse_export_args(argv: Optional[Sequence[str]], description: str, trained_by: str,
                      checkpoint: str, checkpoint_help: str) -> argparse.Namespace:
    """The export CLI shared by the methods that hand on an upstream: EXP [--checkpoint] --out."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp", type=Path, help=f"{trained_by} output dir")
    parser.add_argument("--checkpoint", default=checkpoint, help=f"weights file in exp (default: {checkpoint_help})")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args.source = args.exp / args.checkpoint
    if not args.source.is_file():
        raise DataError(f"{args.source}: missing; is training of {args.exp} finished?")
    return args


def export_run(args: argparse.Namespace, config: Dict[str, Any], state: Dict[str, Any],
               metrics: Sequence[str]) -> None:
    """Write the upstream of ``config`` with ``state`` to ``args.out``, with the run's summary."""
    model = build_and_load(args.source, config, state)
    info = {"source": str(args.source), **training_summary(args.exp, metrics)}
    export_upstream(model, config, args.out, info)
    write_summary(info, args.out.with_name("summary.md"), metrics)
    _LOG.info("%s: %.2f M parameters, %s", args.out, sum(p.numel() for p in model.parameters()) / 1e6, info)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_export_args(argv, __doc__, "hubert_train", "valid.acc_m.best.pth",
                             "best validation masked accuracy")
    config, state = read_checkpoint(args.source)
    export_run(args, config, state, METRICS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
