"""RESULTS.md from the scoring outputs (stand-in for ESPnet's show_asr_result.sh).

Experiments are ``<exp_root>`` itself and its sub-directories (as show_asr_result.sh looks at
``find <exp> -mindepth 0 -maxdepth 1``) that hold decode dirs ``<exp>/<inference_tag>/<set>/``
with any of ``score_{wer,cer,ter,ner,sentiment}/result.json`` or ``rtf.json``. A summary table puts the
headline figure of each metric (CER, WER, NER F1, macro-F1, RTF) of every experiment side by
side; then each experiment gets a heading, a link to its ``config.yaml``, its parameter count when
``<exp>/model_summary.json`` has ``num_params``, and one table per metric in ESPnet's shape
(dataset = ``<inference_tag>/<set>``). Every number comes from those json files; rows and
experiments are sorted by path. The environment block never fails: outside a git checkout the
git revision reads ``unknown``.
"""

import argparse
import datetime
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, at, cli_entry


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    fmt: str  # format spec applied to the json value


@dataclass(frozen=True)
class Section:
    title: str
    filename: str  # relative to a decode dir
    columns: Tuple[Column, ...]


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
)
MODEL_SUMMARY = "model_summary.json"
# The one headline figure per section that the summary table compares across experiments.
HEADLINES = (("CER", "CER", "err"), ("WER", "WER", "err"), ("NER", "NER F1", "f1"),
             ("Sentiment", "macro-F1", "macro_f1"), ("RTF", "RTF", "rtf"))


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


def _cell(data: Dict[str, object], column: Column, path: Path) -> str:
    value = data.get(column.key)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and (column.fmt != "d" or isinstance(value, int)):
        return format(value, column.fmt)
    kind = "an integer" if column.fmt == "d" else "a number"
    raise at(path, None, f"'{column.key}' must be {kind}, got {value!r}")


def section_table(section: Section, exp: Path, dirs: Sequence[Path]) -> List[str]:
    """The Markdown table of one metric, or nothing if no decode dir has it."""
    rows = []
    for decode_dir in dirs:
        path = decode_dir / section.filename
        if not path.is_file():
            continue
        data = read_json(path)
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
                    cells[header] = _cell(read_json(path), column, path)
            rows.append((name, decode_dir.relative_to(exp).as_posix(), cells))
    headers = [h for _, h, _ in HEADLINES if any(h in cells for *_, cells in rows)]
    lines = ["## Summary", "", "|experiment|dataset|" + "|".join(headers) + "|",
             "|" + "|".join("---" for _ in range(len(headers) + 2)) + "|"]
    lines += [f"|{name}|{dataset}|" + "|".join(cells.get(h, "-") for h in headers) + "|"
              for name, dataset, cells in rows]
    return lines + [""]


def render(exp_root: Path, out_path: Path, title: str = "RESULTS",
           preamble: Optional[str] = None, env: Optional[List[str]] = None) -> str:
    """The whole RESULTS.md text; ``preamble`` (free Markdown) follows the environment."""
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
    text = render(args.exp_root, out, args.title, preamble)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    logging.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
