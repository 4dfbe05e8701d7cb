"""RESULTS.md from the scoring outputs (stand-in for ESPnet's show_asr_result.sh).

Experiments are ``<exp_root>`` itself and its sub-directories (as show_asr_result.sh looks at
``find <exp> -mindepth 0 -maxdepth 1``) that hold decode dirs ``<exp>/<inference_tag>/<set>/``
with any of the tables' json files: ``score_{wer,cer,ter}/result.json``, ``rtf.json``,
``macs.json`` and those of the plugins' tables (``espnet2_ext.recipe.plugins``). A summary table
puts the headline figure of each table (CER, WER, RTF, GMACs/s...) of every experiment side by
side, a seeds table the mean and spread over runs that differ only in the seed, then the plugins'
sections (e.g. fast inference's comparison against a baseline); then each experiment gets a
heading, a link to its ``config.yaml``, its parameter count when ``<exp>/model_summary.json`` has
``num_params``, and one table per metric in ESPnet's shape (dataset = ``<inference_tag>/<set>``).
Every number comes from those files; rows and experiments are sorted by path. The environment
block never fails: outside a git checkout the git revision reads ``unknown``.
"""

import argparse
import datetime
import functools
import importlib.metadata
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.recipe.curves import training_table
from espnet2_ext.recipe.plugins import Plugin, load_plugins


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str  # format spec applied to the json value (times scale)
    scale: float = 1.0
    optional: bool = False  # a missing value reads "-"


@dataclass(frozen=True)
class Headline:
    """The one figure of a table that the summary compares across experiments."""

    header: str
    key: str
    rank: int  # column position in the summary
    quality: bool = True  # averaged over seeds (error rates and scores, not speed)


@dataclass(frozen=True)
class Section:
    title: str
    filename: str  # relative to a decode dir
    columns: Tuple[Column, ...]
    rank: int  # position among an experiment's tables
    headline: Optional[Headline] = None


def percent_columns(*pairs: Tuple[str, str]) -> Tuple[Column, ...]:
    return tuple(Column(header, key, ".1f") for header, key in pairs)


ERROR_RATE_COLUMNS = (Column("Snt", "num_snt", "d"), Column("Wrd", "num_wrd", "d")) + \
    percent_columns(("Corr", "corr"), ("Sub", "sub"), ("Del", "del"), ("Ins", "ins"),
                    ("Err", "err"), ("S.Err", "snt_err"))
# The tables of the stock pipeline: scoring (stage 13), decoding time and MACs (stage 12).
STOCK_SECTIONS = (
    Section("WER", "score_wer/result.json", ERROR_RATE_COLUMNS, 10, Headline("WER", "err", 20)),
    Section("CER", "score_cer/result.json", ERROR_RATE_COLUMNS, 20, Headline("CER", "err", 10)),
    Section("TER", "score_ter/result.json", ERROR_RATE_COLUMNS, 30),
    Section("RTF", "rtf.json", (
        Column("audio (s)", "audio_seconds", ".1f"),
        Column("decode time (s)", "decode_seconds", ".1f"),
        Column("RTF", "rtf", ".4f"),
        Column("latency (ms/utt)", "latency_ms_per_utt", ".1f")), 60, Headline("RTF", "rtf", 50, False)),
    Section("Compute", "macs.json", (
        Column("utts counted", "num_utts", "d"),
        Column("audio counted (s)", "audio_seconds", ".1f"),
        Column("GMACs/s", "macs_per_audio_second", ".3f", scale=1e-9),
        Column("params", "num_params", ",d"),
        Column("mean exit layer", "mean_exit_layer", ".2f", optional=True)),
        70, Headline("GMACs/s", "macs_per_audio_second", 60, False)),
)
MODEL_SUMMARY = "model_summary.json"


@dataclass(frozen=True)
class Tables:
    """What RESULTS.md is made of: the stock tables and the plugins' contributions."""

    plugins: Tuple[Plugin, ...] = ()
    # The plugins' values of each decode dir, read once: every table of the dir gets them.
    _decode_values: Dict[Path, Dict[str, object]] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def sections(self) -> List[Section]:
        found = list(STOCK_SECTIONS) + [s for plugin in self.plugins for s in plugin.sections]
        return sorted(found, key=lambda s: s.rank)

    @functools.cached_property
    def headlines(self) -> List[Tuple[Section, Headline]]:
        found = [(s, s.headline) for s in self.sections if s.headline is not None]
        return sorted(found, key=lambda pair: pair[1].rank)

    def load(self, section: Section, decode_dir: Path) -> Dict[str, object]:
        """The values of ``section`` in ``decode_dir`` (its json file must exist), with the
        plugins' values for that decode dir."""
        if decode_dir not in self._decode_values:
            values: Dict[str, object] = {}
            for plugin in self.plugins:
                if plugin.decode_values is not None:
                    values.update(plugin.decode_values(decode_dir))
            self._decode_values[decode_dir] = values
        return {**read_json(decode_dir / section.filename), **self._decode_values[decode_dir]}

    def decode_dirs(self, exp: Path) -> List[Path]:
        """``<exp>/<tag>/<set>`` dirs holding at least one table's json file, sorted."""
        return sorted(d for d in exp.glob("*/*")
                      if d.is_dir() and any((d / s.filename).is_file() for s in self.sections))


def read_json(path: Path) -> Dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise at(path, err.lineno, f"not valid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise at(path, None, "expected a JSON object")
    return data


def find_experiments(exp_root: Path, tables: Tables) -> List[Path]:
    """``exp_root`` and its sub-directories that have decode dirs, sorted."""
    candidates = [exp_root] + sorted(d for d in exp_root.iterdir() if d.is_dir())
    return [d for d in candidates if tables.decode_dirs(d)]


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


def number(data: Dict[str, object], key: str, path: Path, integral: bool = False,
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
    value = number(data, column.key, path, column.fmt.endswith("d"), column.optional)
    if value is None:
        return "-"
    return format(value * column.scale if column.scale != 1.0 else value, column.fmt)


def section_table(section: Section, exp: Path, dirs: Sequence[Path], tables: Tables) -> List[str]:
    """The Markdown table of one metric, or nothing if no decode dir has it."""
    rows = []
    for decode_dir in dirs:
        path = decode_dir / section.filename
        if not path.is_file():
            continue
        data = tables.load(section, decode_dir)
        cells = [decode_dir.relative_to(exp).as_posix()] + \
            [_cell(data, column, path) for column in section.columns]
        rows.append("|" + "|".join(cells) + "|")
    if not rows:
        return []
    headers = ["dataset"] + [c.header for c in section.columns]
    return [f"### {section.title}", "", "|" + "|".join(headers) + "|",
            "|" + "|".join("---" for _ in headers) + "|", *rows, ""]


def experiment_block(exp: Path, name: str, out_dir: Path, tables: Tables) -> List[str]:
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
    dirs = tables.decode_dirs(exp)
    for section in tables.sections:
        lines += section_table(section, exp, dirs, tables)
    return lines


def summary_table(experiments: Sequence[Path], names: Sequence[str], tables: Tables) -> List[str]:
    """One row per experiment and decode set with the headline figure of each metric, so that
    systems (e.g. pretrained vs random upstream) can be compared at a glance."""
    rows = []
    for exp, name in zip(experiments, names):
        for decode_dir in tables.decode_dirs(exp):
            cells = {}
            for section, headline in tables.headlines:
                path = decode_dir / section.filename
                if path.is_file():
                    column = next(c for c in section.columns if c.key == headline.key)
                    cells[headline.header] = _cell(tables.load(section, decode_dir), column, path)
            rows.append((name, decode_dir.relative_to(exp).as_posix(), cells))
    headers = [h.header for _, h in tables.headlines if any(h.header in cells for *_, cells in rows)]
    lines = ["## Summary", "", "|experiment|dataset|" + "|".join(headers) + "|",
             "|" + "|".join("---" for _ in range(len(headers) + 2)) + "|"]
    lines += [f"|{name}|{dataset}|" + "|".join(cells.get(h, "-") for h in headers) + "|"
              for name, dataset, cells in rows]
    return lines + [""]


SEED_SUFFIX = re.compile(r"_seed\d+$")


def seed_groups(experiments: Sequence[Path], names: Sequence[str]) -> Dict[str, List[Path]]:
    """The runs of each system that differ only in the seed: ``<system>`` (the config's own seed)
    and ``<system>_seed<N>``, by system name."""
    groups: Dict[str, List[Path]] = {}
    for exp, name in zip(experiments, names):
        groups.setdefault(SEED_SUFFIX.sub("", name), []).append(exp)
    return groups


def seeds_table(experiments: Sequence[Path], names: Sequence[str], tables: Tables) -> List[str]:
    """Mean and spread of the quality headlines (error rates and scores, not speed) over each
    system's seed runs (``seed_groups``)."""
    groups = seed_groups(experiments, names)
    quality = [(s, h) for s, h in tables.headlines if h.quality]
    rows = []
    for system, runs in groups.items():
        if len(runs) < 2:
            continue
        shared = set.intersection(*({d.relative_to(run).as_posix() for d in tables.decode_dirs(run)}
                                    for run in runs))
        for dataset in sorted(shared):
            cells, per_run = {}, ""
            for section, headline in quality:
                paths = [run / dataset / section.filename for run in runs]
                if all(path.is_file() for path in paths):
                    values = [number(read_json(path), headline.key, path) for path in paths]
                    cells[headline.header] = f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
                    per_run = per_run or f"{headline.header} " + ", ".join(f"{v:.1f}" for v in values)
            if cells:
                rows.append((system, len(runs), dataset, cells, per_run))
    if not rows:
        return []
    headers = [h.header for _, h in quality if any(h.header in cells for *_, cells, _ in rows)]
    lines = ["## Seeds", "",
             "Mean ± sample standard deviation over the runs of a system that differ only in the "
             "seed (experiments `<system>_seed<N>` and `<system>` itself, the config's own seed); "
             "the last column lists the first figure of each run, so that an outlier shows.", "",
             "|system|runs|dataset|" + "|".join(headers) + "|per run|",
             "|" + "|".join("---" for _ in range(len(headers) + 4)) + "|"]
    lines += [f"|{system}|{n}|{dataset}|" + "|".join(cells.get(h, "-") for h in headers) + f"|{per_run}|"
              for system, n, dataset, cells, per_run in rows]
    return lines + [""]


def render(exp_root: Path, out_path: Path, title: str = "RESULTS", preamble: Optional[str] = None,
           env: Optional[List[str]] = None, plugins: Sequence[Plugin] = (),
           options: Optional[argparse.Namespace] = None, curves: Optional[Path] = None) -> str:
    """The whole RESULTS.md text; ``preamble`` (free Markdown) follows the environment; the
    training section plots the validation curves into ``curves`` if given; each plugin's ``report``
    gets ``options`` (the parsed command line) and may add a section (and write files such as
    plots)."""
    tables = Tables(tuple(plugins))
    experiments = find_experiments(exp_root, tables)
    if not experiments:
        raise DataError(f"{exp_root}: no decode dir with scoring outputs "
                        f"({', '.join(s.filename for s in tables.sections)})")
    lines = ["<!-- Generated by python -m espnet2_ext.recipe.results -->", f"# {title}", ""]
    lines += (env if env is not None else environment(exp_root)) + [""]
    if preamble:
        lines += [preamble.rstrip("\n"), ""]
    names = [exp.resolve().name if exp == exp_root else exp.relative_to(exp_root).as_posix()
             for exp in experiments]
    lines += summary_table(experiments, names, tables)
    lines += seeds_table(experiments, names, tables)
    lines += training_table(experiments, names, curves, out_path.resolve().parent)
    for plugin in plugins:
        if plugin.report is not None:
            lines += plugin.report(experiments, names, options or argparse.Namespace(),
                                   out_path.resolve().parent)
    for exp, name in zip(experiments, names):
        lines += experiment_block(exp, name, out_path.resolve().parent, tables)
    return "\n".join(lines).rstrip("\n") + "\n"


def build_parser(plugins: Sequence[Plugin] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.results",
        description="Write RESULTS.md from the json outputs of scoring, decoding time and MACs "
        "(and the plugins' tables) found under <exp_root>/*/<inference_tag>/<set>/ (and "
        "<exp_root>/<inference_tag>/<set>/): tables in ESPnet's shape, a summary, the seed "
        "spread, the plugins' sections, plus an environment block.",
    )
    parser.add_argument("exp_root", type=Path, help="experiment root (e.g. exp) or one exp dir")
    parser.add_argument("--out", type=Path, default=None,
                        help="output file (default: <exp_root>/RESULTS.md)")
    parser.add_argument("--title", default="RESULTS", help="top-level heading")
    parser.add_argument("--preamble", type=Path, default=None,
                        help="Markdown file inserted after the environment block (e.g. a "
                        "'How to reproduce' section with the exact commands)")
    parser.add_argument("--curves", type=Path, default=None,
                        help="write the validation curves of every trained experiment (PNG) here and link "
                        "it from the training section")
    for plugin in plugins:
        if plugin.add_report_arguments is not None:
            plugin.add_report_arguments(parser)
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    plugins = load_plugins()
    args = build_parser(plugins).parse_args(argv)
    if not args.exp_root.is_dir():
        raise DataError(f"{args.exp_root}: not a directory")
    out = args.out or args.exp_root / "RESULTS.md"
    if args.preamble is not None and not args.preamble.is_file():
        raise DataError(f"{args.preamble}: preamble file not found")
    preamble = args.preamble.read_text(encoding="utf-8") if args.preamble else None
    text = render(args.exp_root, out, args.title, preamble, plugins=plugins, options=args, curves=args.curves)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    logging.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
