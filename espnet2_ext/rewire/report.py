"""RESULTS.md of a rewiring recipe (``tune_upstream.sh`` stage 9): per run, its command, cost and
validation loss per epoch, and the isotropy of the starting and the rewired upstream.

    python -m espnet2_ext.rewire.report exp --out RESULTS.md

A run is a directory ``<exp_root>/rewire_*`` with ESPnet's ``checkpoint.pth``; its evaluation, if
the recipe has one (``local/evaluate.sh``), is ``<run>/eval/isotropy_{start,tuned}.json`` written
by :mod:`espnet2_ext.rewire.isotropy`. Every number comes from those files.
"""

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet2_ext.errors import DataError, cli_entry
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


def isotropy_section(run: Path) -> List[str]:
    result = read_isotropy(run / "eval")
    return isotropy_lines(result) if result is not None else []


REPORT = TuningReport("rewire", "NT-Xent", evaluation=isotropy_section)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    return REPORT.main(argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
