"""RESULTS.md from the scoring outputs (stand-in for ESPnet's show_asr_result.sh).

Experiments are ``<exp_root>`` itself and its sub-directories (as show_asr_result.sh looks at
``find <exp> -mindepth 0 -maxdepth 1``) that hold decode dirs ``<exp>/<inference_tag>/<set>/``
with any of ``score_{wer,cer,ter,ner,sentiment}/result.json``, ``rtf.json`` or ``macs.json``. A
summary table puts the headline figure of each metric (CER, WER, NER F1, macro-F1, RTF, GMACs/s)
of every experiment side by side; then each experiment gets a heading, a link to its
``config.yaml``, its parameter count when ``<exp>/model_summary.json`` has ``num_params``, and one
table per metric in ESPnet's shape (dataset = ``<inference_tag>/<set>``); "Compute" comes from
``macs.json`` (``espnet2_ext.recipe.macs``) and the mean of an early-exit model's ``exit_layer``
file. Every number comes from those files; rows and experiments are sorted by path. The
environment block never fails: outside a git checkout the git revision reads ``unknown``.

With ``--baseline <exp name>`` (and that experiment decoded ``--compute_set``), a fast-inference
section follows the summary, in the shape of Zaiem et al. (2023)'s table: for every experiment
with a ``macs.json`` on that set, its error rate, GMACs per audio second and summed CPU decoding
time, each with its change against the baseline, RTF, parameters and mean exit layer; then for
each compared error rate (``--compute_metric``, several allowed) a sentence naming the strategies
within ``--threshold`` (absolute) of the baseline's, and the baseline's spread over its seed runs;
with ``--pareto <png>`` a plot of the first error rate against GMACs/s with the Pareto frontier.
"""

import argparse
import datetime
import fnmatch
import importlib.metadata
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, at, cli_entry


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str  # format spec applied to the json value (times scale)
    scale: float = 1.0
    optional: bool = False  # a missing value reads "-"


@dataclass(frozen=True)
class Section:
    title: str
    filename: str  # relative to a decode dir
    columns: Tuple[Column, ...]
    extra: Optional[Callable[[Path], Dict[str, object]]] = None  # more values from the decode dir


EXIT_LAYER_FILE = "exit_layer"  # espnet2_ext.fastinf.early_exit.EXIT_LAYER_FILE


def exit_layer_data(decode_dir: Path) -> Dict[str, object]:
    """``{"mean_exit_layer": mean}`` of an early-exit model's ``exit_layer`` file, if there is one."""
    path = decode_dir / EXIT_LAYER_FILE
    if not path.is_file():
        return {}
    from espnet2_ext.fastinf.early_exit import mean_exit_layer  # torch: only for early-exit models

    return {"mean_exit_layer": mean_exit_layer(path)}


def _percent_columns(*pairs: Tuple[str, str]) -> Tuple[Column, ...]:
    return tuple(Column(header, key, ".1f") for header, key in pairs)


ERROR_RATE_COLUMNS = (Column("Snt", "num_snt", "d"), Column("Wrd", "num_wrd", "d")) + \
    _percent_columns(("Corr", "corr"), ("Sub", "sub"), ("Del", "del"), ("Ins", "ins"),
                     ("Err", "err"), ("S.Err", "snt_err"))
SECTIONS = (
    Section("WER", "score_wer/result.json", ERROR_RATE_COLUMNS),
    Section("CER", "score_cer/result.json", ERROR_RATE_COLUMNS),
    Section("TER", "score_ter/result.json", ERROR_RATE_COLUMNS),
    Section("NER", "score_ner/result.json", _percent_columns(
        ("F1", "f1"), ("label-F1", "label_f1"), ("precision", "precision"),
        ("recall", "recall"))),
    Section("Sentiment", "score_sentiment/result.json", _percent_columns(
        ("macro-F1", "macro_f1"), ("macro-recall", "macro_recall"), ("accuracy", "accuracy"))),
    Section("RTF", "rtf.json", (
        Column("audio (s)", "audio_seconds", ".1f"),
        Column("decode time (s)", "decode_seconds", ".1f"),
        Column("RTF", "rtf", ".4f"),
        Column("latency (ms/utt)", "latency_ms_per_utt", ".1f"))),
    Section("Compute", "macs.json", (
        Column("utts counted", "num_utts", "d"),
        Column("audio counted (s)", "audio_seconds", ".1f"),
        Column("GMACs/s", "macs_per_audio_second", ".3f", scale=1e-9),
        Column("params", "num_params", ",d"),
        Column("mean exit layer", "mean_exit_layer", ".2f", optional=True)), extra=exit_layer_data),
)
MODEL_SUMMARY = "model_summary.json"
# The one headline figure per section that the summary table compares across experiments.
HEADLINES = (("CER", "CER", "err"), ("WER", "WER", "err"), ("NER", "NER F1", "f1"),
             ("Sentiment", "macro-F1", "macro_f1"), ("RTF", "RTF", "rtf"),
             ("Compute", "GMACs/s", "macs_per_audio_second"))


def read_json(path: Path) -> Dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise at(path, err.lineno, f"not valid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise at(path, None, "expected a JSON object")
    return data


def decode_dirs(exp: Path) -> List[Path]:
    """``<exp>/<tag>/<set>`` dirs holding at least one scoring output, sorted."""
    return sorted(d for d in exp.glob("*/*")
                  if d.is_dir() and any((d / s.filename).is_file() for s in SECTIONS))


def find_experiments(exp_root: Path) -> List[Path]:
    """``exp_root`` and its sub-directories that have decode dirs, sorted."""
    candidates = [exp_root] + sorted(d for d in exp_root.iterdir() if d.is_dir())
    return [d for d in candidates if decode_dirs(d)]


def _git(cwd: Path, *args: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                              check=False)
    except OSError:  # git not installed
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment(cwd: Path) -> List[str]:
    """ESPnet-style environment lines; the git lines degrade to 'unknown' outside a checkout."""
    revision = _git(cwd, "rev-parse", "HEAD")
    if revision is not None and _git(cwd, "status", "--porcelain", "--untracked-files=no"):
        revision += " (with uncommitted changes)"
    date = datetime.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Z %Y")
    return [
        "## Environments",
        f"- date: `{date}`",
        f"- python version: `{platform.python_version()}`",
        f"- espnet version: `espnet {_version('espnet')}`",
        f"- pytorch version: `pytorch {_version('torch')}`",
        f"- Git hash: `{revision or 'unknown (not a git checkout)'}`",
        f"  - Commit date: `{_git(cwd, 'log', '-1', '--format=%cd') or 'unknown'}`",
    ]


def _value(data: Dict[str, object], key: str, path: Path, integral: bool = False,
           optional: bool = False) -> Optional[float]:
    """``data[key]``, checked to be a number (an integer if ``integral``); None if optional and absent."""
    value = data.get(key)
    if value is None and optional:
        return None
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and (not integral or isinstance(value, int)):
        return value
    kind = "an integer" if integral else "a number"
    raise at(path, None, f"'{key}' must be {kind}, got {value!r}")


def _cell(data: Dict[str, object], column: Column, path: Path) -> str:
    value = _value(data, column.key, path, column.fmt.endswith("d"), column.optional)
    if value is None:
        return "-"
    return format(value * column.scale if column.scale != 1.0 else value, column.fmt)


def load(section: Section, decode_dir: Path) -> Dict[str, object]:
    """The values of ``section`` in ``decode_dir`` (its json file must exist)."""
    data = read_json(decode_dir / section.filename)
    return {**data, **section.extra(decode_dir)} if section.extra else data


def section_table(section: Section, exp: Path, dirs: Sequence[Path]) -> List[str]:
    """The Markdown table of one metric, or nothing if no decode dir has it."""
    rows = []
    for decode_dir in dirs:
        path = decode_dir / section.filename
        if not path.is_file():
            continue
        data = load(section, decode_dir)
        cells = [decode_dir.relative_to(exp).as_posix()] + \
            [_cell(data, column, path) for column in section.columns]
        rows.append("|" + "|".join(cells) + "|")
    if not rows:
        return []
    headers = ["dataset"] + [c.header for c in section.columns]
    return [f"### {section.title}", "", "|" + "|".join(headers) + "|",
            "|" + "|".join("---" for _ in headers) + "|", *rows, ""]


def experiment_block(exp: Path, name: str, out_dir: Path) -> List[str]:
    """Heading, config link, parameter count and the metric tables of one experiment."""
    info = []
    config = exp / "config.yaml"
    if config.is_file():
        info.append(f"- config: [{name}/config.yaml]({os.path.relpath(config, out_dir)})")
    summary = exp / MODEL_SUMMARY
    if summary.is_file():
        num_params = read_json(summary).get("num_params")
        if isinstance(num_params, bool) or not isinstance(num_params, int):
            raise at(summary, None, f"'num_params' must be an integer, got {num_params!r}")
        info.append(f"- number of parameters: {num_params:,}")
    lines = [f"## {name}", ""] + (info + [""] if info else [])
    dirs = decode_dirs(exp)
    for section in SECTIONS:
        lines += section_table(section, exp, dirs)
    return lines


def summary_table(experiments: Sequence[Path], names: Sequence[str]) -> List[str]:
    """One row per experiment and decode set with the headline figure of each metric, so that
    systems (e.g. pretrained vs random upstream) can be compared at a glance."""
    sections = {s.title: s for s in SECTIONS}
    rows = []
    for exp, name in zip(experiments, names):
        for decode_dir in decode_dirs(exp):
            cells = {}
            for title, header, key in HEADLINES:
                path = decode_dir / sections[title].filename
                if path.is_file():
                    column = next(c for c in sections[title].columns if c.key == key)
                    cells[header] = _cell(load(sections[title], decode_dir), column, path)
            rows.append((name, decode_dir.relative_to(exp).as_posix(), cells))
    headers = [h for _, h, _ in HEADLINES if any(h in cells for *_, cells in rows)]
    lines = ["## Summary", "", "|experiment|dataset|" + "|".join(headers) + "|",
             "|" + "|".join("---" for _ in range(len(headers) + 2)) + "|"]
    lines += [f"|{name}|{dataset}|" + "|".join(cells.get(h, "-") for h in headers) + "|"
              for name, dataset, cells in rows]
    return lines + [""]


SEED_SUFFIX = re.compile(r"_seed\d+$")
SEED_HEADLINES = HEADLINES[:4]  # the quality figures (not RTF or MACs) averaged over seeds


def seed_groups(experiments: Sequence[Path], names: Sequence[str]) -> Dict[str, List[Path]]:
    """The runs of each system that differ only in the seed: ``<system>`` (the config's own seed)
    and ``<system>_seed<N>``, by system name."""
    groups: Dict[str, List[Path]] = {}
    for exp, name in zip(experiments, names):
        groups.setdefault(SEED_SUFFIX.sub("", name), []).append(exp)
    return groups


def seeds_table(experiments: Sequence[Path], names: Sequence[str]) -> List[str]:
    """Mean and spread of the quality headlines over each system's seed runs (``seed_groups``)."""
    groups = seed_groups(experiments, names)
    sections = {s.title: s for s in SECTIONS}
    rows = []
    for system, runs in groups.items():
        if len(runs) < 2:
            continue
        shared = set.intersection(*({d.relative_to(run).as_posix() for d in decode_dirs(run)}
                                    for run in runs))
        for dataset in sorted(shared):
            cells, per_run = {}, ""
            for title, header, key in SEED_HEADLINES:
                paths = [run / dataset / sections[title].filename for run in runs]
                if all(path.is_file() for path in paths):
                    values = [_value(read_json(path), key, path) for path in paths]
                    cells[header] = f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
                    per_run = per_run or f"{header} " + ", ".join(f"{v:.1f}" for v in values)
            if cells:
                rows.append((system, len(runs), dataset, cells, per_run))
    if not rows:
        return []
    headers = [h for _, h, _ in SEED_HEADLINES if any(h in cells for *_, cells, _ in rows)]
    lines = ["## Seeds", "",
             "Mean ± sample standard deviation over the runs of a system that differ only in the "
             "seed (experiments `<system>_seed<N>` and `<system>` itself, the config's own seed); "
             "the last column lists the first figure of each run, so that an outlier shows.", "",
             "|system|runs|dataset|" + "|".join(headers) + "|per run|",
             "|" + "|".join("---" for _ in range(len(headers) + 4)) + "|"]
    lines += [f"|{system}|{n}|{dataset}|" + "|".join(cells.get(h, "-") for h in headers) + f"|{per_run}|"
              for system, n, dataset, cells, per_run in rows]
    return lines + [""]


@dataclass(frozen=True)
class ComputeOptions:
    """The fast-inference comparison: against which experiment, on which decode set."""

    baseline: str  # experiment name, as in the summary table
    decode_set: str = "test"
    metrics: Tuple[str, ...] = ("wer",)  # score_<metric>/result.json; the first: Pareto front, plot
    threshold: float = 1.0  # "within +threshold (absolute) of the baseline's error rate"
    pareto: Optional[Path] = None  # PNG to write
    systems: str = "*"  # glob of the experiment names compared with the baseline

    @property
    def metric(self) -> str:
        """The error rate of the Pareto frontier and the plot."""
        return self.metrics[0]


@dataclass(frozen=True)
class System:
    """One row of the fast-inference table (a decode dir of the compared set with macs.json)."""

    label: str
    errs: Tuple[Optional[float], ...]  # one per ComputeOptions.metrics
    gmacs: float  # GMACs per second of audio
    decode_seconds: Optional[float]
    rtf: Optional[float]
    params: int
    exit_layer: Optional[float]
    num_utts: int  # utterances that macs.json counted

    @property
    def err(self) -> Optional[float]:
        """The first compared error rate (Pareto front, plot)."""
        return self.errs[0]


def error_rate(decode_dir: Path, metric: str) -> Optional[float]:
    """``err`` of ``<decode_dir>/score_<metric>/result.json``; None without that file."""
    score = decode_dir / f"score_{metric}" / "result.json"
    return _value(read_json(score), "err", score) if score.is_file() else None


def _system(label: str, decode_dir: Path, metrics: Sequence[str]) -> System:
    macs_path, rtf_path = decode_dir / "macs.json", decode_dir / "rtf.json"
    macs = read_json(macs_path)
    rtf = read_json(rtf_path) if rtf_path.is_file() else {}
    return System(
        label=label,
        errs=tuple(error_rate(decode_dir, metric) for metric in metrics),
        gmacs=_value(macs, "macs_per_audio_second", macs_path) / 1e9,
        decode_seconds=_value(rtf, "decode_seconds", rtf_path, optional=True),
        rtf=_value(rtf, "rtf", rtf_path, optional=True),
        params=_value(macs, "num_params", macs_path, integral=True),
        exit_layer=exit_layer_data(decode_dir).get("mean_exit_layer"),
        num_utts=_value(macs, "num_utts", macs_path, integral=True),
    )


def compute_systems(experiments: Sequence[Path], names: Sequence[str],
                    options: ComputeOptions) -> List[Tuple[str, System]]:
    """(experiment name, system) for each decode dir of ``options.decode_set`` with macs.json, of the
    baseline and the experiments that match ``options.systems``; an
    experiment with several inference tags gets one row each, labelled ``name (tag)``."""
    found = []
    for exp, name in zip(experiments, names):
        if name != options.baseline and not fnmatch.fnmatchcase(name, options.systems):
            continue
        dirs = [d for d in decode_dirs(exp)
                if d.name == options.decode_set and (d / "macs.json").is_file()]
        for decode_dir in dirs:
            label = name if len(dirs) == 1 else f"{name} ({decode_dir.parent.name})"
            found.append((name, _system(label, decode_dir, options.metrics)))
    return found


def _reduction(value: Optional[float], base: Optional[float]) -> Optional[float]:
    """Percentage by which ``value`` is below ``base`` (negative: above)."""
    if value is None or base is None or base == 0:
        return None
    return 100.0 * (1.0 - value / base)


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def pareto_front(systems: Sequence[System]) -> List[System]:
    """The systems with an error rate that no other system beats with as few or fewer MACs,
    by increasing MACs."""
    front: List[System] = []
    for system in sorted((s for s in systems if s.err is not None), key=lambda s: (s.gmacs, s.err)):
        if not front or system.err < front[-1].err:
            front.append(system)
    return front


def short_labels(labels: Sequence[str]) -> List[str]:
    """Labels without the ``_``-separated prefix and suffix they all share (for plot points)."""
    if len(labels) < 2:
        return list(labels)
    prefix = os.path.commonprefix(list(labels))
    prefix = prefix[: prefix.rfind("_") + 1]
    suffix = os.path.commonprefix([label[::-1] for label in labels])[::-1]
    suffix = suffix[suffix.find("_"):] if "_" in suffix else ""
    short = [label[len(prefix): len(label) - len(suffix)] for label in labels]
    return short if all(short) else list(labels)


def point_labels(systems: Sequence[System], labels: Sequence[str],
                 near: float = 0.03) -> List[Tuple[Tuple[float, float], str]]:
    """One plot label per group of points that would overlap (within ``near`` of the data's range
    on both axes: e.g. two strategies with equal MACs and nearly equal error), joined by " / "."""
    span_x = (max(s.gmacs for s in systems) - min(s.gmacs for s in systems)) if systems else 0.0
    span_y = (max(s.err for s in systems) - min(s.err for s in systems)) if systems else 0.0
    groups: List[Tuple[Tuple[float, float], List[str]]] = []
    for system, label in sorted(zip(systems, labels), key=lambda pair: (pair[0].gmacs, pair[0].err)):
        for (x, y), members in groups:
            if abs(system.gmacs - x) <= near * span_x and abs(system.err - y) <= near * span_y:
                members.append(label)
                break
        else:
            groups.append(((system.gmacs, system.err), [label]))
    return [(point, " / ".join(members)) for point, members in groups]


def plot_pareto(systems: Sequence[System], baseline: System, options: ComputeOptions) -> None:
    """Error rate against GMACs/s, one labelled point per system, the Pareto frontier as a line."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    metric = options.metric.upper()
    points = [s for s in systems if s.err is not None]
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    axes.scatter([s.gmacs for s in points], [s.err for s in points], color="tab:blue", zorder=3)
    if baseline.err is not None:
        axes.scatter([baseline.gmacs], [baseline.err], color="tab:red", marker="s", zorder=4,
                     label=f"baseline ({baseline.label})")
    front = pareto_front(points)
    axes.plot([s.gmacs for s in front], [s.err for s in front], color="tab:green", linestyle="--",
              zorder=2, label="Pareto frontier")
    others = [s for s in points if s is not baseline]
    for (gmacs, err), label in point_labels(others, short_labels([s.label for s in others])):
        axes.annotate(label, (gmacs, err), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlabel("GMACs per second of audio (encoder path)")
    axes.set_ylabel(f"{metric} (%)")
    axes.set_title(f"{metric} against compute, {options.decode_set}")
    axes.margins(x=0.15, y=0.1)  # room for the labels
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    options.pareto.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(options.pareto, dpi=120)


def within_sentence(baseline: System, others: Sequence[System], options: ComputeOptions,
                    index: int = 0) -> str:
    """Which strategies keep error rate ``options.metrics[index]`` within +threshold (absolute) of
    the baseline's."""
    metric = options.metrics[index].upper()
    base = baseline.errs[index]
    if base is None:
        return f"The baseline {baseline.label} has no {metric} on {options.decode_set}: no comparison."
    scored = [(s, s.errs[index]) for s in others if s.errs[index] is not None]
    keep = sorted(((s, err) for s, err in scored if err - base <= options.threshold + 1e-9),
                  key=lambda pair: pair[0].gmacs)
    threshold = f"{options.threshold:.1f}" if round(options.threshold, 1) == options.threshold \
        else f"{options.threshold:g}"
    what = (f"within +{threshold} {metric} (absolute) of the baseline {baseline.label} "
            f"({metric} {base:.2f})")
    if not keep:
        return f"None of the {len(scored)} other strategies stays {what}."
    items = ", ".join(f"{s.label} ({err - base:+.2f} {metric}, MACs "
                      f"{_fmt(100.0 * (s.gmacs / baseline.gmacs - 1.0) if baseline.gmacs else None, '+.1f')} %)"
                      for s, err in keep)
    verb = "stays" if len(keep) == 1 else "stay"
    return f"{len(keep)} of the {len(scored)} other strategies {verb} {what}, cheapest first: {items}."


def baseline_seeds_sentence(experiments: Sequence[Path], names: Sequence[str],
                            options: ComputeOptions, metric: str) -> Optional[str]:
    """The baseline's error rate over its seed runs (``seed_groups``), so that a reader can tell a
    strategy's difference from seed-to-seed noise; None with one run."""
    runs = seed_groups(experiments, names).get(SEED_SUFFIX.sub("", options.baseline), [])
    errs = [err for exp in runs
            for decode_dir in decode_dirs(exp) if decode_dir.name == options.decode_set
            for err in [error_rate(decode_dir, metric)] if err is not None]
    if len(errs) < 2:
        return None
    metric = metric.upper()
    return (f"The baseline's {metric} over its {len(errs)} seed runs is {statistics.mean(errs):.2f} ± "
            f"{statistics.stdev(errs):.2f} (range {min(errs):.2f}-{max(errs):.2f}): a difference "
            f"smaller than that spread is not evidence that a strategy is better or worse.")


def fast_inference_section(experiments: Sequence[Path], names: Sequence[str], options: ComputeOptions,
                           out_dir: Path) -> List[str]:
    """The fast-inference table, sentence and plot link (and the plot, if asked for); nothing
    (with a warning) unless the baseline experiment has a macs.json on the set."""
    found = compute_systems(experiments, names, options)
    base_rows = [system for name, system in found if name == options.baseline]
    if not base_rows:
        logging.warning("no fast-inference table: experiment '%s' has no %s decode dir with macs.json",
                        options.baseline, options.decode_set)
        return []
    baseline = base_rows[0]
    others = [system for _, system in found if system is not baseline]
    metric = options.metric.upper()
    headers = (["strategy"] + [h for m in options.metrics for h in (m.upper(), f"Δ{m.upper()}")]
               + ["GMACs/s", "MACs reduction %", "CPU decode time (s)", "time reduction %", "RTF",
                  "params (M)", "mean exit layer"])
    lines = [f"## Fast inference: {options.decode_set}", "",
             f"Every system{'' if options.systems == '*' else f' named `{options.systems}`'} with a "
             f"`macs.json` on `{options.decode_set}` against the baseline "
             f"`{options.baseline}`, in the shape of Zaiem et al. (2023)'s table.", "",
             "|" + "|".join(headers) + "|", "|" + "|".join("---" for _ in headers) + "|"]
    for system in [baseline] + others:
        errs = [cell for err, base in zip(system.errs, baseline.errs)
                for cell in (_fmt(err, ".2f"),
                             _fmt(None if err is None or base is None else err - base, "+.2f"))]
        cells = [system.label + (" (baseline)" if system is baseline else ""), *errs,
                 f"{system.gmacs:.3f}",
                 _fmt(_reduction(system.gmacs, baseline.gmacs), ".1f"),
                 _fmt(system.decode_seconds, ".1f"),
                 _fmt(_reduction(system.decode_seconds, baseline.decode_seconds), ".1f"),
                 _fmt(system.rtf, ".4f"), f"{system.params / 1e6:.2f}", _fmt(system.exit_layer, ".2f")]
        lines.append("|" + "|".join(cells) + "|")
    for index, compared in enumerate(options.metrics):
        lines += ["", within_sentence(baseline, others, options, index)]
        spread = baseline_seeds_sentence(experiments, names, options, compared)
        if spread:
            lines += ["", spread]
    front = pareto_front([baseline] + others)
    if front:
        lines += ["", f"Pareto frontier ({metric} against GMACs/s: no other system has both a lower "
                  f"{metric} and fewer MACs): {', '.join(s.label for s in front)}."]
    if options.pareto is not None:
        plot_pareto([baseline] + others, baseline, options)
        lines += ["", f"![{metric} against GMACs/s]({os.path.relpath(options.pareto, out_dir)})"]
    counted = sorted({s.num_utts for s in [baseline] + others})
    lines += ["", f"GMACs/s: multiply-accumulates of the encoder path that decoding runs "
              f"(downsampler, upstream, encoder, early exits, CTC projection) per second of audio, "
              f"counted on the first {'/'.join(map(str, counted))} utterances (`macs.json`); CPU decode "
              f"time: summed over the decoding jobs (`rtf.json`); reductions: relative to the "
              f"baseline; mean exit layer: early-exit models (`exit_layer`).", ""]
    return lines


def render(exp_root: Path, out_path: Path, title: str = "RESULTS",
           preamble: Optional[str] = None, env: Optional[List[str]] = None,
           compute: Optional[ComputeOptions] = None) -> str:
    """The whole RESULTS.md text; ``preamble`` (free Markdown) follows the environment;
    ``compute`` adds the fast-inference section (and writes its plot)."""
    experiments = find_experiments(exp_root)
    if not experiments:
        raise DataError(f"{exp_root}: no decode dir with scoring outputs "
                        f"({', '.join(s.filename for s in SECTIONS)})")
    lines = ["<!-- Generated by python -m espnet2_ext.recipe.results -->", f"# {title}", ""]
    lines += (env if env is not None else environment(exp_root)) + [""]
    if preamble:
        lines += [preamble.rstrip("\n"), ""]
    names = [exp.resolve().name if exp == exp_root else exp.relative_to(exp_root).as_posix()
             for exp in experiments]
    lines += summary_table(experiments, names)
    lines += seeds_table(experiments, names)
    if compute is not None:
        lines += fast_inference_section(experiments, names, compute, out_path.resolve().parent)
    for exp, name in zip(experiments, names):
        lines += experiment_block(exp, name, out_path.resolve().parent)
    return "\n".join(lines).rstrip("\n") + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.results",
        description="Write RESULTS.md from the json outputs of espnet2_ext.recipe.score, "
        "slue_metrics and rtf found under <exp_root>/*/<inference_tag>/<set>/ (and "
        "<exp_root>/<inference_tag>/<set>/): WER/CER/TER tables in ESPnet's shape, NER, "
        "sentiment and RTF tables, plus an environment block.",
    )
    parser.add_argument("exp_root", type=Path, help="experiment root (e.g. exp) or one exp dir")
    parser.add_argument("--out", type=Path, default=None,
                        help="output file (default: <exp_root>/RESULTS.md)")
    parser.add_argument("--title", default="RESULTS", help="top-level heading")
    parser.add_argument("--preamble", type=Path, default=None,
                        help="Markdown file inserted after the environment block (e.g. a "
                        "'How to reproduce' section with the exact commands)")
    group = parser.add_argument_group(
        "fast inference", "a table of every system with macs.json against a baseline (Zaiem et al. 2023)")
    group.add_argument("--baseline", default=None,
                       help="experiment name (as in the summary) to compare with; without it, or if it "
                       "has no macs.json on --compute_set, no fast-inference section is written")
    group.add_argument("--compute_set", default="test", help="decode set compared (default: %(default)s)")
    group.add_argument("--compute_metric", choices=("wer", "cer", "ter"), nargs="+", default=["wer"],
                       help="error rates compared, each with its own columns and sentences; the first "
                       "gives the Pareto frontier and the plot (default: wer)")
    group.add_argument("--threshold", type=float, default=1.0,
                       help="name the strategies within +this (absolute) of the baseline's error rate "
                       "(default: %(default)s)")
    group.add_argument("--compute_systems", default="*",
                       help="glob of the experiment names compared with the baseline, e.g. '*_fastinf_*' "
                       "(default: every experiment with macs.json)")
    group.add_argument("--pareto", type=Path, default=None,
                       help="write the error rate against GMACs/s plot (PNG) here and link it")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    if not args.exp_root.is_dir():
        raise DataError(f"{args.exp_root}: not a directory")
    out = args.out or args.exp_root / "RESULTS.md"
    if args.preamble is not None and not args.preamble.is_file():
        raise DataError(f"{args.preamble}: preamble file not found")
    preamble = args.preamble.read_text(encoding="utf-8") if args.preamble else None
    compute = None
    if args.baseline:
        compute = ComputeOptions(args.baseline, args.compute_set, tuple(args.compute_metric), args.threshold,
                                 args.pareto, args.compute_systems)
    text = render(args.exp_root, out, args.title, preamble, compute=compute)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    logging.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
