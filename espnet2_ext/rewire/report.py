"""RESULTS.md of a rewiring recipe (``tune_upstream.sh`` stage 9): per run, its command, cost and
validation loss per epoch, the isotropy of the starting and the rewired upstream and, where the
recipe measured it, their query-by-example search (what the frames keep of the words).

    python -m espnet2_ext.rewire.report exp --out RESULTS.md

A run is a directory ``<exp_root>/rewire_*`` with ESPnet's ``checkpoint.pth``; its evaluation, if
the recipe has one (``local/evaluate.sh``), is ``<run>/eval/isotropy_{start,tuned}.json`` written
by :mod:`espnet2_ext.rewire.isotropy` and ``<run>/eval/qbe_{start,tuned}.json`` written by
:mod:`espnet2_ext.score.qbe_eval`. Every number comes from those files.
"""

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.score.report import qbe_lines, read_qbe
from espnet2_ext.ssl.tuning_report import TuningReport

VIEWS = ("start", "tuned")
VECTORS = {"pooled": "all layers, averaged (the rewiring pooling)", "last": "last layer"}


def read_isotropy(eval_dir: Path) -> Optional[Dict[str, dict]]:
    paths = {view: eval_dir / f"isotropy_{view}.json" for view in VIEWS}
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        return {view: json.loads(p.read_text(encoding="utf-8")) for view, p in paths.items()}
    except json.JSONDecodeError as err:
        raise DataError(f"{eval_dir}: unreadable isotropy result: {err}") from None


def isotropy_lines(result: Dict[str, dict]) -> List[str]:
    start, tuned = result["start"], result["tuned"]
    rows = [
        f"| {description} | {start[name]['isotropy']:.4f} | {tuned[name]['isotropy']:.4f} | "
        f"{start[name]['average_cosine']:.4f} | {tuned[name]['average_cosine']:.4f} |"
        for name, description in VECTORS.items()
    ]
    return [
        f"Isotropy of utterance vectors (time averages, L2-normalised) of the {start['num_utterances']} "
        f"utterances of `{start['data_dir']}`: I(W) of Mu & Viswanath (1 = isotropic) and the average "
        "cosine similarity of distinct pairs (0 = spread evenly).", "",
        "| vectors | I(W) start | I(W) rewired | avg cos start | avg cos rewired |",
        "|---|---|---|---|---|", *rows,
    ]


def evaluation_section(run: Path) -> List[str]:
    """Isotropy, then query-by-example, as far as the run's eval dir has them."""
    isotropy, qbe = read_isotropy(run / "eval"), read_qbe(run / "eval")
    lines = isotropy_lines(isotropy) if isotropy is not None else []
    if qbe is not None:
        lines += ([""] if lines else []) + qbe_lines(qbe, tuned_name="rewired")
    return lines


REPORT = TuningReport("rewire", "NT-Xent", evaluation=evaluation_section)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    return REPORT.main(argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
