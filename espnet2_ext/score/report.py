"""RESULTS.md of a SCORE recipe (``tune_upstream.sh`` stage 9): per run, its cost, its validation loss per
epoch and the recipe's evaluation of the starting against the tuned upstream.

    python -m espnet2_ext.score.report exp --out RESULTS.md

A run is a directory ``<exp_root>/score_*`` with ESPnet's ``checkpoint.pth``; its evaluation, if
the recipe has one (``local/evaluate.sh``), is ``<run>/eval/qbe_{start,tuned}.json`` written by
:mod:`espnet2_ext.score.qbe_eval`. Every number comes from those files.
"""

import json
import re
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe.significance import paired_bootstrap
from espnet2_ext.ssl.tuning_report import TuningReport

QBE_VIEWS = ("start", "tuned")


def read_qbe(eval_dir: Path) -> Optional[Dict[str, dict]]:
    paths = {view: eval_dir / f"qbe_{view}.json" for view in QBE_VIEWS}
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        return {view: json.loads(p.read_text(encoding="utf-8")) for view, p in paths.items()}
    except json.JSONDecodeError as err:
        raise DataError(f"{eval_dir}: unreadable QbE result: {err}") from None


def map_difference(start: dict, tuned: dict) -> str:
    """Tuned minus starting MAP with its 95 % interval and P(tuned better), by a paired bootstrap
    over queries (each query's AP; Bisani & Ney 2004 as for error rates)."""
    return _bootstrap_cell(start["ap"], tuned["ap"])


def _bootstrap_cell(start_ap: Dict[str, float], tuned_ap: Dict[str, float]) -> str:
    queries = sorted(start_ap)
    if sorted(tuned_ap) != queries:
        raise DataError("the two QbE results were scored on different queries")
    result = paired_bootstrap([1 - start_ap[q] for q in queries], [1 - tuned_ap[q] for q in queries],
                              [1] * len(queries))
    gain, low, high = (0.0 - x for x in (result.diff, result.ci_high, result.ci_low))  # 0.0 - 0.0 is not -0.0
    return f"{gain:+.4f} [{low:+.4f}, {high:+.4f}] | {result.prob_b_better:.3f}"


def qbe_lines(qbe: Dict[str, dict], tuned_name: str = "SCORE") -> List[str]:
    """Per layer, MAP and MTWV of the starting and the tuned upstream (called ``tuned_name``) side
    by side, with the MAP difference's significance."""
    start, tuned = qbe["start"], qbe["tuned"]
    rows = [
        f"| {layer} | {start['layers'][layer]['map']:.4f} | {tuned['layers'][layer]['map']:.4f} | "
        f"{map_difference(start['layers'][layer], tuned['layers'][layer])} | "
        f"{start['layers'][layer]['mtwv']:.4f} | {tuned['layers'][layer]['mtwv']:.4f} |"
        for layer in sorted(start["layers"], key=int)
    ]
    return [
        f"Query-by-example on the test set: {start['num_queries']} queries, {start['num_docs']} "
        f"documents, beta {start['beta']} (MTWV), {start['method']} distances. The MAP difference "
        f"has a 95 % interval and P({tuned_name} better) from a paired bootstrap over queries (1000 "
        f"resamples).", "",
        f"| layer | MAP start | MAP {tuned_name} | MAP {tuned_name} - start [95 % CI] | P({tuned_name} better) | "
        f"MTWV start | MTWV {tuned_name} |", "|---|---|---|---|---|---|---|", *rows,
    ]


def seeds_lines(runs: Sequence[Path]) -> List[str]:
    """Runs that differ only in the seed (``<name>`` and ``<name>_seed<N>``): per layer, MAP of
    each seed, mean and sample sd, and the bootstrap of the seed-averaged AP per query against the
    starting upstream (the same for every seed)."""
    groups: Dict[str, List[Dict[str, dict]]] = {}
    for run in runs:
        qbe = read_qbe(run / "eval")
        if qbe is not None:
            groups.setdefault(re.sub(r"_seed\d+$", "", run.name), []).append(qbe)
    lines = []
    for name, results in sorted(groups.items()):
        if len(results) < 2:
            continue
        start = results[0]["start"]["layers"]
        lines += [f"## Seeds: {name} ({len(results)} SCORE runs, QbE MAP)", "",
                  "| layer | start | SCORE per seed | mean (sd) | mean - start [95 % CI] | P(SCORE better) |",
                  "|---|---|---|---|---|---|"]
        for layer in sorted(start, key=int):
            maps = [r["tuned"]["layers"][layer]["map"] for r in results]
            mean_ap = {q: statistics.mean(r["tuned"]["layers"][layer]["ap"][q] for r in results)
                       for q in start[layer]["ap"]}
            lines.append(f"| {layer} | {start[layer]['map']:.4f} | {', '.join(f'{m:.4f}' for m in maps)} | "
                         f"{statistics.mean(maps):.4f} ({statistics.stdev(maps):.4f}) | "
                         f"{_bootstrap_cell(start[layer]['ap'], mean_ap)} |")
        lines.append("")
    return lines


def qbe_section(run: Path) -> List[str]:
    qbe = read_qbe(run / "eval")
    return qbe_lines(qbe) if qbe is not None else []


REPORT = TuningReport("score", "soft-DTW divergence / (T_x + T_y)", evaluation=qbe_section, summary=seeds_lines)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    return REPORT.main(argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
