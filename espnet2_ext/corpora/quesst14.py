"""QUESST 2014 (MediaEval's query-by-example search on speech) as QbE dirs, read in place.

SUPERB's QbE task (s3prl ``downstream/quesst14_dtw``), which SCORE reports, searches the spoken
queries of QUESST 2014 in its documents by DTW on an upstream's features. The corpus
(``quesst14Database.tgz``, extracted; see ``egs2/quesst14/qbe1/README.md``) is one directory::

    Audio/quesst14_<5 digits>.wav            the documents, shared by dev and eval
    dev_queries/quesst14_dev_<4 digits>.wav  eval_queries/quesst14_eval_<4 digits>.wav
    scoring/language_key_utterances.lst      scoring/language_key_{dev,eval}.lst
    scoring/groundtruth_quesst14_{dev,eval}/quesst14_{dev,eval}.rttm (+ ecf, tlist)
    scoring/score-TWV-Cnxe.sh                the official TWV/Cnxe scorer

All audio is 8 kHz. A language key list has one line per file, ``<path> <language>``, the path
starting with the archive's top directory (``quesst14Database/Audio/quesst14_00001.wav``): as s3prl
and torchaudio do, the part up to the first ``/`` is dropped and the rest is read from the corpus
directory. The ids are the file names without ``.wav``, which is what the scorer's ground truth and
the stdlist name. Languages: albanian, basque, czech, nnenglish (non-native English), romanian,
slovak (torchaudio's list).

Ground truth: the ``LEXEME`` lines of the RTTM, ``LEXEME <doc> <channel> <start> <duration>
<query> ...``, give each occurrence of a query in a document; it is file-level here, as QUESST and
SUPERB score it (the times are checked, not used). Lines of other RTTM types and ``NO_KEYWORD``
lexemes are skipped.

**Subset.** By default the English subset: the documents and queries whose language is
``nnenglish``, as s3prl's quesst14_dtw reads them (both its dataset and the newer corpus reader
keep ``nnenglish`` lines only; torchaudio's ``QUESST14`` also defaults to it). ``--language all``
keeps every language (the full MediaEval task); ``--language <name>`` another one. A query and a
document of different languages never match, so the subset loses no true pair of its queries.

Output (``<outdir>``, the QbE dir format of :mod:`espnet2_ext.score.qbe_eval`)::

    docs/wav.scp          docid /abs/quesst14Database/Audio/docid.wav  (8 kHz, read in place)
    docs/text             docid language   (QUESST has no transcripts; qbe_eval reads the ids only)
    <split>/queries/wav.scp, <split>/queries/text   the same for the split's queries
    <split>/truth         qid docid   (one line per document the query occurs in)
    <split>/docs -> ../docs

for split dev and eval. The upstreams need 16 kHz: the recipe's stage 2 resamples with
:mod:`espnet2_ext.recipe.format_audio` (soxr, as sox's ``rate 16000`` in s3prl). s3prl also applies
``gain -3`` (-3 dB); that is left out: the CNN's first normalisation of HuBERT-style upstreams
undoes a constant gain (``--normalize_waveform`` of qbe_eval scales every waveform anyway).

Every list and RTTM is checked before anything is written; a bad line stops with
``ERROR: <file>:<line>: <what>``.

Results (the recipe's last stage)::

    python -m espnet2_ext.corpora.quesst14 results exp/qbe --out RESULTS.md

reads ``<exp>/<tag>/{dev,eval}.json`` (qbe_eval's output per upstream) and, where the official
scorer ran, ``<exp>/<tag>/<split>/layer<k>/scorer.log`` (its ``actTWV: x maxTWV: y Threshold: t``
line).

CLI::

    python -m espnet2_ext.corpora.quesst14 --corpus_dir downloads/quesst14Database --outdir data \\
        [--language nnenglish|all|<language>]
"""

import argparse
import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import replaced_atomically, write_map
from espnet2_ext.recipe.results import environment

ARCHIVE = "quesst14Database.tgz"
SPLITS = ("dev", "eval")
DOCS_LIST = "language_key_utterances.lst"
ENGLISH = "nnenglish"
ALL_LANGUAGES = "all"
NO_KEYWORD = "NO_KEYWORD"  # a LEXEME without a query (skipped, as other readers of QUESST14 do)
OFFICIAL_LINE = re.compile(r"actTWV:\s*(\S+)\s+maxTWV:\s*(\S+)\s+Threshold:\s*(\S+)")

Pair = tuple[str, str]


@dataclass(frozen=True)
class Entry:
    """One line of a language key list."""

    language: str
    audio: Path


@dataclass
class Split:
    """The queries of one split (all languages) and its ground truth pairs (all languages)."""

    name: str
    queries: dict[str, Entry]
    truth: set[Pair]


def _required(path: Path) -> Path:
    if not path.is_file():
        raise at(path, None, f"missing (expected in the extracted {ARCHIVE})")
    return path


def read_language_key(corpus_dir: Path, name: str) -> dict[str, Entry]:
    """``id -> Entry`` of ``scoring/<name>``, each audio file checked."""
    path = _required(corpus_dir / "scoring" / name)
    entries: dict[str, Entry] = {}
    with open(path, encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise at(path, lineno, f"expected '<audio path> <language>', got '{line.strip()}'")
            listed, language = fields
            # The listed path starts with the archive's top directory (s3prl drops it the same way).
            audio = corpus_dir / listed.split("/", 1)[-1]
            uttid = Path(listed).stem
            if uttid in entries:
                raise at(path, lineno, f"duplicate id '{uttid}'")
            if not audio.is_file():
                raise at(path, lineno, f"audio of '{uttid}' is missing: {audio}")
            entries[uttid] = Entry(language, audio)
    return entries


def read_rttm(path: Path, queries: Mapping[str, Entry], query_list: str, docs: Mapping[str, Entry]) -> set[Pair]:
    """``(query id, doc id)`` of the ``LEXEME`` lines of an RTTM; an id missing from its language key
    list (``query_list`` for the queries) stops with the line."""
    truth = set()
    with open(_required(path), encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0] != "LEXEME":
                continue
            try:
                doc, query = fields[1], fields[5]
                if float(fields[3]) < 0 or float(fields[4]) < 0:
                    raise ValueError("a negative time")
            except (IndexError, ValueError):
                raise at(path, lineno, "expected 'LEXEME <document> <channel> <start> <duration> <query> ...', "
                                       f"got '{line.strip()}'") from None
            if query == NO_KEYWORD:
                continue
            if doc not in docs:
                raise at(path, lineno, f"document '{doc}' is not in {DOCS_LIST}")
            if query not in queries:
                raise at(path, lineno, f"query '{query}' is not in {query_list}")
            truth.add((query, doc))
    return truth


def selected(entries: Mapping[str, Entry], language: str) -> dict[str, Entry]:
    return {key: e for key, e in entries.items() if language == ALL_LANGUAGES or e.language == language}


def read_corpus(corpus_dir: Path) -> tuple[dict[str, Entry], list[Split]]:
    """The documents and both splits, all languages, every file checked."""
    docs = read_language_key(corpus_dir, DOCS_LIST)
    splits = []
    for name in SPLITS:
        query_list = f"language_key_{name}.lst"
        queries = read_language_key(corpus_dir, query_list)
        rttm = corpus_dir / "scoring" / f"groundtruth_quesst14_{name}" / f"quesst14_{name}.rttm"
        splits.append(Split(name, queries, read_rttm(rttm, queries, query_list, docs)))
    return docs, splits


def _write_entries(directory: Path, entries: Mapping[str, Entry]) -> None:
    write_map(directory / "wav.scp", {key: str(e.audio.resolve()) for key, e in entries.items()})
    write_map(directory / "text", {key: e.language for key, e in entries.items()})


def _write_truth(path: Path, pairs: set[Pair]) -> None:
    with replaced_atomically(path) as tmp:
        tmp.write_text("".join(f"{qid} {did}\n" for qid, did in sorted(pairs)), encoding="utf-8")


def prepare(corpus_dir: Path, outdir: Path, language: str = ENGLISH) -> dict[str, dict[str, int]]:
    """Write the QbE dirs ``outdir/{dev,eval}`` (documents in ``outdir/docs``) of ``language``;
    returns per split the counts the log gives."""
    all_docs, splits = read_corpus(corpus_dir)
    docs = selected(all_docs, language)
    if not docs:
        languages = ", ".join(sorted({e.language for e in all_docs.values()}))
        raise DataError(f"{corpus_dir / 'scoring' / DOCS_LIST}: no document of language '{language}' "
                        f"(languages: {languages}, or {ALL_LANGUAGES})")
    _write_entries(outdir / "docs", docs)
    counts = {}
    for split in splits:
        queries = selected(split.queries, language)
        truth = {(q, d) for q, d in split.truth if q in queries and d in docs}
        _write_entries(outdir / split.name / "queries", queries)
        _write_truth(outdir / split.name / "truth", truth)
        link = outdir / split.name / "docs"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(Path("..") / "docs")
        counts[split.name] = {"queries": len(queries), "with_truth": len({q for q, _ in truth}),
                              "docs": len(docs), "pairs": len(truth)}
        logging.info("%s (%s): %d queries (%d occur in a document), %d documents, %d true pairs",
                     split.name, language, len(queries), counts[split.name]["with_truth"], len(docs), len(truth))
    return counts


# --- RESULTS.md ----------------------------------------------------------------------------------


def read_official(log: Path) -> float:
    """maxTWV of a ``score-TWV-Cnxe.sh`` output."""
    match = OFFICIAL_LINE.search(log.read_text(encoding="utf-8", errors="replace"))
    if match is None:
        raise at(log, None, "no 'actTWV: .. maxTWV: .. Threshold: ..' line (did the scorer fail?)")
    return float(match.group(2))


def _load(path: Path) -> dict:
    try:
        return json.loads(_required(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise at(path, None, f"unreadable qbe_eval output: {err}") from None


def upstream_lines(run: Path) -> list[str]:
    """The section of one upstream: a row per layer, dev and eval, and SUPERB's pick."""
    results = {split: _load(run / f"{split}.json") for split in SPLITS}
    layers = list(results["dev"]["layers"])
    official = {(split, k): read_official(run / split / f"layer{k}" / "scorer.log")
                for split in SPLITS for k in layers if (run / split / f"layer{k}" / "scorer.log").is_file()}
    columns = ["MAP", "MTWV", "ATWV"] + (["official MTWV"] if official else [])
    header = ["layer"] + [f"{split} {column}" for split in SPLITS for column in columns]
    rows = []
    for k in layers:
        cells = [k]
        for split in SPLITS:
            metrics = results[split]["layers"][k]
            cells += [f"{metrics[m]:.4f}" for m in ("map", "mtwv", "atwv")]
            if official:
                cells.append(f"{official[split, k]:.4f}" if (split, k) in official else "-")
        rows.append(f"| {' | '.join(cells)} |")

    def dev_mtwv(k: str) -> float:
        return official.get(("dev", k), results["dev"]["layers"][k]["mtwv"])

    best = max(layers, key=lambda k: (dev_mtwv(k), -int(k)))  # ties: the lower (cheaper) layer
    best_eval = official.get(("eval", best), results["eval"]["layers"][best]["mtwv"])
    dev = results["dev"]
    scorer = ("QUESST's score-TWV-Cnxe.sh on the stdlist, default score -10 for every trial not in it"
              if official else f"the project's Python MTWV over the subset, beta {dev['beta']}")
    return [
        f"## {run.name}", "",
        f"- upstream: `{dev['upstream']}`",
        f"- {dev['num_queries']} dev and {results['eval']['num_queries']} eval queries, {dev['num_docs']} "
        f"documents; {dev['method']} distances, "
        f"{'per-dimension feature z-norm' if dev['feature_normalization'] else 'no feature z-norm'}",
        f"- MTWV for the pick: {scorer}",
        f"- SUPERB's protocol (best layer on dev by MTWV, its eval MTWV): layer {best}, eval MTWV {best_eval:.4f}",
        "", f"| {' | '.join(header)} |", f"|{'---|' * len(header)}", *rows, "",
    ]


def write_results(exp: Path, out: Path) -> None:
    """RESULTS.md of every upstream evaluated under ``exp`` (sub-directories with a dev.json)."""
    runs = sorted(p.parent for p in exp.glob("*/dev.json"))
    if not runs:
        raise at(exp, None, "no <tag>/dev.json (run the evaluation stage first)")
    lines = ["<!-- Generated by espnet2_ext.corpora.quesst14 results (egs2/quesst14/qbe1 stage 5) -->",
             "# RESULTS", "", *environment(Path.cwd()), "",
             "QUESST 2014 query-by-example, every transformer layer (1 = the first layer's output; "
             "SUPERB's `-l` counts the CNN output as 0). MAP, MTWV and ATWV: the project's scorer "
             "(`espnet2_ext/score/qbe.py`, s3prl's DTW) on the QbE dir's queries and documents.", ""]
    for run in runs:
        lines += upstream_lines(run)
    with replaced_atomically(out) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    logging.info("wrote %s (%d upstreams)", out, len(runs))


# --- CLI -----------------------------------------------------------------------------------------


def _prepare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="QbE dirs <outdir>/{dev,eval} (queries, truth; documents in <outdir>/docs) from QUESST 2014 "
                    "as downloaded, its 8 kHz wav files read in place. Other form: 'results <exp> --out RESULTS.md'.")
    parser.add_argument("--corpus_dir", required=True, type=Path, help=f"the extracted {ARCHIVE} (quesst14Database/)")
    parser.add_argument("--outdir", required=True, type=Path, help="root of the QbE dirs")
    parser.add_argument("--language", default=ENGLISH,
                        help=f"the subset: a language of the key lists (default {ENGLISH}, as SUPERB) or {ALL_LANGUAGES}")
    return parser


def _results_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quesst14 results",
                                     description="RESULTS.md from <exp>/<tag>/{dev,eval}.json and the scorer logs.")
    parser.add_argument("exp", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv[:1] == ["results"]:
        args = _results_parser().parse_args(argv[1:])
        write_results(args.exp, args.out)
        return 0
    args = _prepare_parser().parse_args(argv)
    if not args.corpus_dir.is_dir():
        raise DataError(f"{args.corpus_dir}: not a directory (expected the extracted {ARCHIVE})")
    prepare(args.corpus_dir, args.outdir, args.language)
    return 0


if __name__ == "__main__":
    sys.exit(main())
