"""Learning curves of ESPnet training runs, read from their logs (``exp/<name>/train.log``).

ESPnet's trainer logs one ``<N>epoch results: [train] key=value, ... [valid] key=value, ...`` line
per epoch; a resumed run moves the earlier log to ``train.log.<n>`` (stage 11), so every log of an
experiment is read and the latest line of an epoch wins. ``total_count`` is cumulative (updates so
far) and ``time`` is the wall time of the epoch's part, in humanfriendly's words ("1 minute and
2.5 seconds"). RESULTS.md's "Training" table and its curves plot come from here, so that a reader
sees whether each system had stopped improving and what it cost.

Convergence of systems trained over several seeds (e.g. fine-tuning on a vanilla and on a rewired
upstream: which reaches a validation target in fewer updates)::

    python -m espnet2_ext.recipe.curves --system vanilla exp/a exp/a_seed1 --system rewired exp/b exp/b_seed1 \\
        --target 0.15 --plot convergence.png

prints a Markdown table (per system: the updates at which each run's curve first reaches the
target, and the best value) and draws every run's validation curve by updates.
"""

import argparse
import itertools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, cli_entry

EPOCH_LINE = re.compile(r"(\d+)epoch results: \[train\] (.*?), \[valid\] (.*)$")
TIME_UNITS = {"week": 604800.0, "day": 86400.0, "hour": 3600.0, "minute": 60.0, "second": 1.0,
              "millisecond": 1e-3, "microsecond": 1e-6, "nanosecond": 1e-9}
# The validation figure a curve shows, by preference: CTC character error rate (ASR), accuracy
# (classification, HuBERT masked prediction), then the loss.
CURVE_KEYS = ("cer_ctc", "acc", "acc_m", "loss")


@dataclass(frozen=True)
class Epoch:
    train: Dict[str, str]
    valid: Dict[str, str]


def seconds(text: str) -> float:
    """humanfriendly's ``format_timespan`` back to seconds: "1 hour, 2 minutes and 3.5 seconds"."""
    total = 0.0
    for amount, unit in re.findall(r"([\d.]+) (week|day|hour|minute|second|millisecond|microsecond|nanosecond)s?",
                                    text):
        total += float(amount) * TIME_UNITS[unit]
    return total


def _fields(text: str) -> Dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(", ") if "=" in item)


def read_epochs(exp: Path) -> Dict[int, Epoch]:
    """Epoch number -> its logged results, from ``train.log.<n>`` (oldest first) and ``train.log``."""
    logs = sorted(exp.glob("train.log.*"), key=lambda p: int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
    epochs: Dict[int, Epoch] = {}
    for log in [*logs, exp / "train.log"]:
        if not log.is_file():
            continue
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = EPOCH_LINE.search(line)
            if match:
                epochs[int(match.group(1))] = Epoch(_fields(match.group(2)), _fields(match.group(3)))
    return epochs


def _number(fields: Dict[str, str], key: str) -> Optional[float]:
    try:
        value = float(fields[key])
    except (KeyError, ValueError):
        return None
    return None if value != value else value  # nan: not computed


@dataclass(frozen=True)
class Run:
    """What a training run did: epochs, updates, wall time, and its validation curve."""

    epochs: int
    updates: int
    train_seconds: float
    curve_key: str
    curve: Tuple[Tuple[int, float], ...]  # (epoch, value of curve_key)
    best_epoch: int  # by validation loss
    elapsed: Tuple[float, ...] = ()  # training seconds up to the end of each curve epoch
    updates_at: Tuple[int, ...] = ()  # updates up to the end of each curve epoch

    @property
    def best_value(self) -> float:
        return dict(self.curve)[self.best_epoch]

    def updates_to(self, target: float, higher_is_better: bool = False) -> Optional[int]:
        """Updates after which the curve first reaches ``target`` (None: never)."""
        for (_, value), updates in zip(self.curve, self.updates_at):
            if (value >= target) if higher_is_better else (value <= target):
                return updates
        return None


def summarise(epochs: Dict[int, Epoch]) -> Optional[Run]:
    """The run of ``read_epochs``; None without any epoch line."""
    if not epochs:
        return None
    order = sorted(epochs)
    last = epochs[order[-1]]
    key = next((k for k in CURVE_KEYS if _number(last.valid, k) is not None), None)
    if key is None:
        return None
    curve = tuple((e, _number(epochs[e].valid, key)) for e in order if _number(epochs[e].valid, key) is not None)
    losses = [(_number(epochs[e].valid, "loss"), e) for e in order if _number(epochs[e].valid, "loss") is not None]
    best = min(losses)[1] if losses else order[-1]
    spent = dict(zip(order, itertools.accumulate(seconds(epochs[e].train.get("time", "")) for e in order)))
    return Run(
        epochs=len(order),
        updates=int(_number(last.train, "total_count") or 0),
        train_seconds=spent[order[-1]],
        curve_key=key,
        curve=curve,
        best_epoch=best if best in dict(curve) else curve[-1][0],
        elapsed=tuple(spent[e] for e, _ in curve),
        updates_at=tuple(int(_number(epochs[e].train, "total_count") or 0) for e, _ in curve),
    )


def training_table(experiments: Sequence[Path], names: Sequence[str], plot: Optional[Path],
                   out_dir: Path) -> List[str]:
    """RESULTS.md's "Training" section (and the curves plot, if asked for); nothing without logs."""
    runs = [(name, summarise(read_epochs(exp))) for exp, name in zip(experiments, names)]
    runs = [(name, run) for name, run in runs if run is not None]
    if not runs:
        return []
    lines = ["## Training", "",
             "Per system: epochs and updates trained, training wall time (the epochs' training part, "
             "from ESPnet's log), the validation figure of the curve at the epoch with the lowest "
             "validation loss and at the last epoch.", "",
             "|experiment|epochs|updates|train time (min)|curve|best epoch (valid loss)|at best|at last|",
             "|---|---|---|---|---|---|---|---|"]
    for name, run in runs:
        lines.append(f"|{name}|{run.epochs}|{run.updates}|{run.train_seconds / 60:.1f}|valid {run.curve_key}|"
                     f"{run.best_epoch}|{run.best_value:.3f}|{run.curve[-1][1]:.3f}|")
    if plot is not None:
        plot_curves(runs, plot)
        lines += ["", f"![validation curves]({Path(os.path.relpath(plot, out_dir)).as_posix()})"]
    return lines + [""]


def plot_curves(runs: Sequence[Tuple[str, Run]], path: Path) -> None:
    """One row per validation figure, one line per system; by epoch (left) and by training wall
    time (right: systems whose epochs cost differently compared at equal budgets)."""
    _save(figure_curves(runs), path)


def figure_curves(runs: Sequence[Tuple[str, Run]]):
    """The figure of :func:`plot_curves` (a matplotlib Figure)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    keys = sorted({run.curve_key for _, run in runs}, key=CURVE_KEYS.index)
    # A recipe's report may hold dozens of systems: the legend goes right of the plots, and the
    # figure is tall enough for it (inside the axes it covered them and squashed the plots).
    figure = Figure(figsize=(14, max(3.5 * len(keys), 0.6 + 0.14 * len(runs))), layout="constrained")
    for row, key in enumerate(keys):
        by_epoch = figure.add_subplot(len(keys), 2, 2 * row + 1)
        by_time = figure.add_subplot(len(keys), 2, 2 * row + 2, sharey=by_epoch)
        for name, run in runs:
            if run.curve_key == key:
                values = [v for _, v in run.curve]
                line, = by_epoch.plot([e for e, _ in run.curve], values, marker=".", label=name)
                by_time.plot([s / 60 for s in run.elapsed], values, marker=".", color=line.get_color())
        by_epoch.set_xlabel("epoch")
        by_time.set_xlabel("training wall time (min)")
        by_epoch.set_ylabel(f"valid {key}")
        for axes in (by_epoch, by_time):
            axes.grid(alpha=0.3)
        if key == "cer_ctc":
            _cap_cer_axis(by_epoch)
    figure.legend(loc="outside right upper", fontsize=6)
    return figure


def _save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def _cap_cer_axis(axes) -> None:
    """CTC's first validations can insert far more than the reference holds (CER 3 and more); the
    axis stops at 1.05 so that the part where the systems learn stays readable."""
    axes.set_ylim(0.0, min(axes.get_ylim()[1], 1.05))


SystemRuns = Sequence[Tuple[str, Sequence[Run]]]  # a system's name and its runs (one per seed)


def read_systems(systems: Sequence[Tuple[str, Sequence[Path]]]) -> SystemRuns:
    """Each system's runs, read once from their logs; DataError for an exp dir without epoch results."""
    read = []
    for name, experiments in systems:
        runs = [summarise(read_epochs(exp)) for exp in experiments]
        missing = [str(exp) for exp, run in zip(experiments, runs) if run is None]
        if missing:
            raise DataError(f"{missing[0]}: no epoch results in its train.log")
        read.append((name, runs))
    return read


def convergence_table(systems: SystemRuns, target: float) -> List[str]:
    """Markdown: per system, each run's updates to reach ``target`` (accuracy-like curves: at least
    it; error and loss curves: at most it) and its best value (by validation loss)."""
    lines = [f"|system|runs|updates to reach {target:g}, per run|mean|best value, per run|",
             "|---|---|---|---|---|"]
    for name, runs in systems:
        reached = [run.updates_to(target, run.curve_key.startswith("acc")) for run in runs]
        done = [n for n in reached if n is not None]
        mean = f"{sum(done) / len(done):.0f}" + ("" if len(done) == len(runs) else
                                                 f" ({len(done)} of {len(runs)} reached it)") if done else "-"
        lines.append(f"|{name}|{len(runs)}|{', '.join('never' if n is None else str(n) for n in reached)}|{mean}|"
                     f"{', '.join(f'{run.best_value:.3f}' for run in runs)}|")
    return lines


def plot_by_updates(systems: SystemRuns, target: float, path: Path) -> None:
    """Every run's validation curve by updates, one colour per system, the target as a line."""
    _save(figure_by_updates(systems, target), path)


def figure_by_updates(systems: SystemRuns, target: float):
    """The figure of :func:`plot_by_updates` (a matplotlib Figure)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for colour, (name, runs) in enumerate(systems):
        for n, run in enumerate(runs):
            axes.plot(run.updates_at, [v for _, v in run.curve], color=f"C{colour}", alpha=0.8, marker=".",
                      label=f"{name} ({len(runs)} runs)" if n == 0 else None)
            axes.set_ylabel(f"valid {run.curve_key}")
    axes.axhline(target, color="grey", linestyle="--", linewidth=0.8)
    if all(run.curve_key == "cer_ctc" for _, runs in systems for run in runs):
        _cap_cer_axis(axes)
    axes.set_xlabel("updates")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return figure


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Convergence of systems over several runs: updates to reach a "
                                                 "validation target, and the curves by updates.")
    parser.add_argument("--system", nargs="+", action="append", required=True, metavar=("NAME", "EXP"),
                        help="a system's name and its exp dirs (one per seed); repeat per system")
    parser.add_argument("--target", type=float, required=True,
                        help="the validation value to reach (CER, loss: at most; accuracy: at least)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the curves by updates")
    args = parser.parse_args(argv)
    for system in args.system:
        if len(system) < 2:
            parser.error(f"--system {system[0]}: name it, then give its exp dirs")
    systems = read_systems([(system[0], [Path(p) for p in system[1:]]) for system in args.system])
    print("\n".join(convergence_table(systems, args.target)))
    if args.plot is not None:
        plot_by_updates(systems, args.target, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
