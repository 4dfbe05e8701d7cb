"""Fast inference's section of RESULTS.md: every strategy against a baseline, in the shape of
Zaiem et al. (2023)'s table.

With ``--baseline <exp name>`` (and that experiment decoded ``--compute_set``), for every
experiment with a ``macs.json`` on that set: its error rate, GMACs per audio second and summed CPU
decoding time, each with its change against the baseline, RTF, parameters and mean exit layer;
then for each compared error rate (``--compute_metric``, several allowed) a sentence naming the
strategies within ``--threshold`` (absolute) of the baseline's, and the baseline's spread over its
seed runs; with ``--pareto <png>`` a plot of the first error rate against GMACs/s with the Pareto
frontier (one point per system: decoded as the baseline row, seed runs averaged). When the
baseline has seed runs (``<exp>_seed<N>``), every strategy's runs are compared with them, decoded
the same way: mean and spread over seeds, and a paired bootstrap over the utterances with seeds
averaged per utterance (``espnet2_ext.recipe.significance``). An early-exit
experiment decoded by several exit rules (a threshold sweep: decode dirs with an ``exit_rule``
file) gets the threshold curve: mean exit layer, error rates and decoding time per rule, and with
``--exit_curve <png>`` the error rate against the mean exit layer.
"""

import argparse
import fnmatch
import logging
import os
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.kaldi_files import read_map
from espnet2_ext.recipe.results import SEED_SUFFIX, number, read_json, seed_groups
from espnet2_ext.recipe.significance import UNITS, compare, load_systems

# Written by decoding an early-exit model (espnet2_ext.fastinf.early_exit; no torch import here).
EXIT_LAYER_FILE = "exit_layer"
EXIT_RULE_FILE = "exit_rule"


def exit_layer_data(decode_dir: Path) -> Dict[str, object]:
    """``{"mean_exit_layer": mean}`` of an early-exit model's ``exit_layer`` file, if there is one."""
    path = decode_dir / EXIT_LAYER_FILE
    if not path.is_file():
        return {}
    from espnet2_ext.fastinf.early_exit import mean_exit_layer  # torch: only for early-exit models

    return {"mean_exit_layer": mean_exit_layer(path)}


def exit_rule_of(decode_dir: Path) -> Optional[str]:
    """The exit rule (``criterion threshold``) an early-exit decode dir was decoded by; None for
    other models."""
    path = decode_dir / EXIT_RULE_FILE
    return " / ".join(sorted(set(read_map(path).values()))) if path.is_file() else None


def decode_dirs_of(exp: Path, decode_set: str, filename: str) -> List[Path]:
    """``<exp>/<tag>/<decode_set>`` dirs that hold ``filename``, sorted."""
    return sorted(d for d in exp.glob(f"*/{decode_set}") if (d / filename).is_file())


@dataclass(frozen=True)
class ComputeOptions:
    """The fast-inference comparison: against which experiment, on which decode set."""

    baseline: str  # experiment name, as in the summary table
    decode_set: str = "test"
    metrics: Tuple[str, ...] = ("wer",)  # score_<metric>/result.json; the first: Pareto front, plot
    threshold: float = 1.0  # "within +threshold (absolute) of the baseline's error rate"
    pareto: Optional[Path] = None  # PNG to write
    systems: str = "*"  # glob of the experiment names compared with the baseline
    exit_curve: Optional[Path] = None  # PNG of the early-exit threshold curve to write
    baseline_tag: Optional[str] = None  # the baseline's decode dir (inference tag); None: its first

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
    exit_rule: Optional[str] = None  # early-exit models: the rule decoding exited by
    tag: str = ""  # the decode dir's inference tag

    @property
    def err(self) -> Optional[float]:
        """The first compared error rate (Pareto front, plot)."""
        return self.errs[0]


def error_rate(decode_dir: Path, metric: str) -> Optional[float]:
    """``err`` of ``<decode_dir>/score_<metric>/result.json``; None without that file."""
    score = decode_dir / f"score_{metric}" / "result.json"
    return number(read_json(score), "err", score) if score.is_file() else None


def _system(label: str, decode_dir: Path, metrics: Sequence[str]) -> System:
    macs_path, rtf_path = decode_dir / "macs.json", decode_dir / "rtf.json"
    macs = read_json(macs_path)
    rtf = read_json(rtf_path) if rtf_path.is_file() else {}
    return System(
        label=label,
        errs=tuple(error_rate(decode_dir, metric) for metric in metrics),
        gmacs=number(macs, "macs_per_audio_second", macs_path) / 1e9,
        decode_seconds=number(rtf, "decode_seconds", rtf_path, optional=True),
        rtf=number(rtf, "rtf", rtf_path, optional=True),
        params=number(macs, "num_params", macs_path, integral=True),
        exit_layer=exit_layer_data(decode_dir).get("mean_exit_layer"),
        num_utts=number(macs, "num_utts", macs_path, integral=True),
        exit_rule=exit_rule_of(decode_dir),
        tag=decode_dir.parent.name,
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
        dirs = decode_dirs_of(exp, options.decode_set, "macs.json")
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


def plot_points(found: Sequence[Tuple[str, System]], tag: str) -> Dict[str, System]:
    """One point per system for the plot, by experiment name: its decodes made as the baseline row
    was (inference ``tag``; other decodings are rows of the table), its seed runs
    (``<name>_seed<N>``) merged into the mean of their error rates and MACs."""
    groups: Dict[str, List[System]] = {}
    for name, system in found:
        if system.tag == tag and system.err is not None:
            groups.setdefault(SEED_SUFFIX.sub("", name), []).append(system)
    return {name: replace(runs[0], label=name if len(runs) == 1 else f"{name} ({len(runs)} seeds)",
                          errs=(statistics.mean(s.err for s in runs),),
                          gmacs=statistics.mean(s.gmacs for s in runs))
            for name, runs in groups.items()}


def plot_pareto(found: Sequence[Tuple[str, System]], baseline: System, options: ComputeOptions) -> None:
    """Error rate against GMACs/s, one labelled point per system (:func:`plot_points`), the Pareto
    frontier of those points as a line."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    metric = options.metric.upper()
    by_name = plot_points(found, baseline.tag)
    base = by_name.get(SEED_SUFFIX.sub("", options.baseline))
    points = list(by_name.values())
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    axes.scatter([s.gmacs for s in points], [s.err for s in points], color="tab:blue", zorder=3)
    if base is not None:
        axes.scatter([base.gmacs], [base.err], color="tab:red", marker="s", zorder=4,
                     label=f"baseline ({base.label})")
    front = pareto_front(points)
    axes.plot([s.gmacs for s in front], [s.err for s in front], color="tab:green", linestyle="--",
              zorder=2, label="Pareto frontier")
    others = [s for s in points if s is not base]
    for (gmacs, err), label in point_labels(others, short_labels([s.label for s in others])):
        axes.annotate(label, (gmacs, err), textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlabel("GMACs per second of audio (encoder path)")
    axes.set_ylabel(f"{metric} (%)")
    axes.set_title(f"{metric} against compute, {options.decode_set}\n{baseline.tag}, seed runs averaged",
                   fontsize=10)
    axes.margins(x=0.15, y=0.1)  # room for the labels
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    options.pareto.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(options.pareto, dpi=120)


def within(baseline: System, others: Sequence[System], options: ComputeOptions,
           index: int = 0) -> List[Tuple[System, float]]:
    """(system, difference) of the strategies whose error rate ``options.metrics[index]`` is within
    +threshold (absolute) of the baseline's, cheapest first; nothing without a baseline figure."""
    base = baseline.errs[index]
    if base is None:
        return []
    scored = [(s, s.errs[index] - base) for s in others if s.errs[index] is not None]
    return sorted(((s, diff) for s, diff in scored if diff <= options.threshold + 1e-9),
                  key=lambda pair: pair[0].gmacs)


def within_sentence(baseline: System, others: Sequence[System], options: ComputeOptions,
                    index: int = 0) -> str:
    """``within`` in words."""
    metric = options.metrics[index].upper()
    base = baseline.errs[index]
    if base is None:
        return f"The baseline {baseline.label} has no {metric} on {options.decode_set}: no comparison."
    scored = sum(s.errs[index] is not None for s in others)
    keep = within(baseline, others, options, index)
    threshold = f"{options.threshold:.1f}" if round(options.threshold, 1) == options.threshold \
        else f"{options.threshold:g}"
    what = (f"within +{threshold} {metric} (absolute) of the baseline {baseline.label} "
            f"({metric} {base:.2f})")
    if not keep:
        return f"None of the {scored} other strategies stays {what}."
    items = ", ".join(f"{s.label} ({diff:+.2f} {metric}, MACs "
                      f"{_fmt(100.0 * (s.gmacs / baseline.gmacs - 1.0) if baseline.gmacs else None, '+.1f')} %)"
                      for s, diff in keep)
    verb = "stays" if len(keep) == 1 else "stay"
    return f"{len(keep)} of the {scored} other strategies {verb} {what}, cheapest first: {items}."


def baseline_seed_errors(experiments: Sequence[Path], names: Sequence[str], options: ComputeOptions,
                         metric: str, tag: str) -> List[float]:
    """The baseline's error rate ``metric`` on the compared set in each of its seed runs
    (``seed_groups``), decoded as the baseline row was (its inference ``tag``)."""
    runs = seed_groups(experiments, names).get(SEED_SUFFIX.sub("", options.baseline), [])
    return [err for exp in runs
            for err in [error_rate(exp / tag / options.decode_set, metric)] if err is not None]


def baseline_seed_systems(experiments: Sequence[Path], names: Sequence[str], options: ComputeOptions,
                          tag: str) -> List[Tuple[str, System]]:
    """(name, system) of the baseline's other seed runs (``seed_groups``; no rows of the table, but
    averaged into the baseline's plot point), each decoded as the baseline row (inference ``tag``)."""
    name_of = dict(zip(experiments, names))
    runs = seed_groups(experiments, names).get(SEED_SUFFIX.sub("", options.baseline), [])
    dirs = [(name_of[exp], exp / tag / options.decode_set) for exp in runs if name_of[exp] != options.baseline]
    return [(name, _system(name, d, options.metrics)) for name, d in dirs if (d / "macs.json").is_file()]


def baseline_seeds_sentence(experiments: Sequence[Path], names: Sequence[str],
                            options: ComputeOptions, metric: str, tag: str) -> Optional[str]:
    """The baseline's spread over its seed runs, so that a reader can tell a strategy's difference
    from seed-to-seed noise; None with one run."""
    errs = baseline_seed_errors(experiments, names, options, metric, tag)
    if len(errs) < 2:
        return None
    metric = metric.upper()
    return (f"The baseline's {metric} over its {len(errs)} seed runs ({tag}) is {statistics.mean(errs):.2f} ± "
            f"{statistics.stdev(errs):.2f} (range {min(errs):.2f}-{max(errs):.2f}): a difference "
            f"smaller than that spread is not evidence that a strategy is better or worse.")


def fast_inference_section(experiments: Sequence[Path], names: Sequence[str], options: ComputeOptions,
                           out_dir: Path) -> List[str]:
    """The fast-inference table, sentence and plot link (and the plot, if asked for); nothing
    (with a warning) unless the baseline experiment has a macs.json on the set."""
    found = compute_systems(experiments, names, options)
    base_rows = [system for name, system in found if name == options.baseline
                 and options.baseline_tag in (None, system.tag)]
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
        spread = baseline_seeds_sentence(experiments, names, options, compared, baseline.tag)
        if spread:
            lines += ["", spread]
    front = pareto_front([baseline] + others)
    if front:
        lines += ["", f"Pareto frontier ({metric} against GMACs/s: no other system has both a lower "
                  f"{metric} and fewer MACs): {', '.join(s.label for s in front)}."]
    if options.pareto is not None:
        plot_pareto(found + baseline_seed_systems(experiments, names, options, baseline.tag), baseline, options)
        lines += ["", f"![{metric} against GMACs/s]({os.path.relpath(options.pareto, out_dir)})"]
    counted = sorted({s.num_utts for s in [baseline] + others})
    lines += ["", f"GMACs/s: multiply-accumulates of the encoder path that decoding runs "
              f"(downsampler, upstream, encoder, early exits, CTC projection) per second of audio, "
              f"counted on the first {'/'.join(map(str, counted))} utterances (`macs.json`); CPU decode "
              f"time: summed over the decoding jobs (`rtf.json`); reductions: relative to the "
              f"baseline; mean exit layer: early-exit models (`exit_layer`).", ""]
    return lines + seeds_section(experiments, names, options, baseline.tag) + exit_curve_section(
        found, options, out_dir)


def scored_runs(runs: Sequence[Path], tag: str, decode_set: str, metric: str) -> List[Path]:
    """The decode dirs ``<run>/<tag>/<decode_set>`` of the runs that have per-utterance scores."""
    dirs = [run / tag / decode_set for run in runs]
    return [d for d in dirs if (d / f"score_{metric}" / "hyp.trn").is_file()]


def _mean_sd(rates: Sequence[float]) -> str:
    mean = 100 * statistics.mean(rates)
    return f"{mean:.2f} ({100 * statistics.stdev(rates):.2f})" if len(rates) > 1 else f"{mean:.2f}"


def seeds_section(experiments: Sequence[Path], names: Sequence[str], options: ComputeOptions,
                  tag: str) -> List[str]:
    """Every strategy's seed runs against the baseline's, all decoded as the baseline row (inference
    ``tag``): per error rate the mean (sd) over seeds, the difference with a 95 % paired-bootstrap
    interval over the utterances (seeds averaged per utterance) and P(strategy better); nothing
    unless the baseline has at least two scored seed runs."""
    metrics = [m for m in options.metrics if m in UNITS]
    groups = seed_groups(experiments, names)
    baseline = SEED_SUFFIX.sub("", options.baseline)
    base_runs = {m: scored_runs(groups.get(baseline, []), tag, options.decode_set, m) for m in metrics}
    if not metrics or min(len(dirs) for dirs in base_runs.values()) < 2:
        return []
    headers = ["system", "seeds"] + [h for m in metrics for h in (
        f"{m.upper()} (sd)", f"Δ{m.upper()} [95 % CI]", "P(better)")]
    rows = [[f"{baseline} (baseline)", str(len(base_runs[metrics[0]]))] + [
        cell for m in metrics for cell in (_mean_sd(load_systems(m, base_runs[m], [])[0].seed_rates()), "", "")]]
    for system, runs in groups.items():
        if system == baseline or not fnmatch.fnmatchcase(system, options.systems):
            continue
        cells = []
        for metric in metrics:
            dirs = scored_runs(runs, tag, options.decode_set, metric)
            if not dirs:
                break
            comparison = compare(*load_systems(metric, base_runs[metric], dirs))
            boot = comparison["bootstrap"]
            cells += [_mean_sd(comparison["b"]["seed_rates"]),
                      f"{100 * boot['diff']:+.2f} [{100 * boot['ci_low']:+.2f}, {100 * boot['ci_high']:+.2f}]",
                      f"{boot['prob_b_better']:.3f}"]
        else:
            rows.append([system, str(len(dirs))] + cells)
    return [f"### Fast inference: seeds against the baseline ({options.decode_set})", "",
            f"Each system's seed runs (`<experiment>` and `<experiment>_seed<N>`) decoded as the "
            f"baseline row (`{tag}`): error rates are the mean over the seeds (sample sd); Δ is the "
            f"system minus the baseline with each side's seeds averaged per utterance, with the 95 % "
            f"interval of a paired bootstrap over the {options.decode_set} utterances (1000 "
            f"resamples, `python -m espnet2_ext.recipe.significance`); P(better): the share of "
            f"resamples in which the system makes fewer errors. The interval covers the sampling of "
            f"the test utterances, the sd column the seeds: an interval that holds 0 is no evidence "
            f"of a difference, and a system with one seed has no spread of its own in it.", "",
            "|" + "|".join(headers) + "|", "|" + "|".join("---" for _ in headers) + "|",
            *("|" + "|".join(row) + "|" for row in rows), ""]


def parse_exit_rule(rule: str) -> Tuple[str, Optional[float]]:
    """(criterion, threshold) of an ``exit_rule`` value: ``entropy 0.1``, ``none``."""
    criterion, _, threshold = rule.partition(" ")
    try:
        return criterion, float(threshold) if threshold else None
    except ValueError:
        raise ValueError(f"not one exit rule: '{rule}' (a decode dir whose shards were decoded by different rules?)") from None


def rule_order(rule: str) -> Tuple[str, float]:
    """Sort key of an exit rule: by criterion, then threshold (``none``: after every threshold)."""
    criterion, threshold = parse_exit_rule(rule)
    return criterion, float("inf") if threshold is None else threshold


def exit_curves(found: Sequence[Tuple[str, System]]) -> Dict[str, List[System]]:
    """Experiment name -> its decode dirs' systems, by rule, for experiments decoded by two or
    more exit rules."""
    curves: Dict[str, List[System]] = {}
    for name, system in found:
        if system.exit_rule is not None and system.exit_layer is not None:
            curves.setdefault(name, []).append(system)
    return {name: sorted(systems, key=lambda s: rule_order(s.exit_rule))
            for name, systems in curves.items() if len(systems) > 1}


def exit_curve_section(found: Sequence[Tuple[str, System]], options: ComputeOptions, out_dir: Path) -> List[str]:
    """The threshold curve of each early-exit experiment decoded by several rules (``exit_curves``)."""
    curves = exit_curves(found)
    if not curves:
        return []
    metrics = [m.upper() for m in options.metrics]
    lines = [f"### Early exit: the threshold curve, {options.decode_set}", "",
             "Each early-exit experiment decoded by several exit rules (`asr_inference --exit_criterion "
             "--exit_threshold`; `none`: always the last exit).", ""]
    for name, systems in curves.items():
        lines += [f"`{name}`:", "", "|exit rule|mean exit layer|" + "|".join(metrics) + "|CPU decode time (s)|",
                  "|---|---|" + "|".join("---" for _ in metrics) + "|---|"]
        for s in systems:
            lines.append(f"|{s.exit_rule}|{s.exit_layer:.2f}|" + "|".join(_fmt(e, ".2f") for e in s.errs)
                         + f"|{_fmt(s.decode_seconds, '.1f')}|")
        lines.append("")
    if options.exit_curve is not None:
        plot_exit_curves(curves, options)
        lines += [f"![{metrics[0]} against the mean exit layer]({os.path.relpath(options.exit_curve, out_dir)})", ""]
    return lines


def plot_exit_curves(curves: Dict[str, List[System]], options: ComputeOptions) -> None:
    """Error rate against mean exit layer: one line per experiment and criterion, points labelled
    by threshold."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for name, systems in curves.items():
        by_criterion: Dict[str, List[System]] = {}
        for s in systems:
            by_criterion.setdefault(s.exit_rule.partition(" ")[0], []).append(s)
        for criterion, points in by_criterion.items():
            points = [p for p in points if p.err is not None]
            axes.plot([p.exit_layer for p in points], [p.err for p in points], marker="o",
                      label=f"{name}: {criterion}")
            for p in points:
                axes.annotate(p.exit_rule.partition(" ")[2] or p.exit_rule, (p.exit_layer, p.err),
                              textcoords="offset points", xytext=(4, 4), fontsize=7)
    axes.set_xlabel("mean exit layer")
    axes.set_ylabel(f"{options.metric.upper()} (%)")
    axes.set_title(f"Early exit: {options.metric.upper()} against the mean exit layer, {options.decode_set}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    options.exit_curve.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(options.exit_curve, dpi=120)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    group.add_argument("--baseline_tag", default=None,
                       help="the baseline's inference tag when it was decoded several ways (default: the "
                       "first in sorted order)")
    group.add_argument("--exit_curve", type=Path, default=None,
                       help="write the early-exit threshold curve (error rate against mean exit layer, PNG) "
                       "here and link it")


def report(experiments: Sequence[Path], names: Sequence[str], args: argparse.Namespace,
           out_dir: Path) -> List[str]:
    """The fast-inference section when ``--baseline`` is given (``add_arguments``)."""
    if getattr(args, "baseline", None) is None:
        return []
    options = ComputeOptions(args.baseline, args.compute_set, tuple(args.compute_metric), args.threshold,
                             args.pareto, args.compute_systems, args.exit_curve, args.baseline_tag)
    return fast_inference_section(experiments, names, options, out_dir)
