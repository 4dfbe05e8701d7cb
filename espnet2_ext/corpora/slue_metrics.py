"""SLUE task metrics: NER F1 / label-F1 (SLUE-VoxPopuli) and sentiment macro-F1 (SLUE-VoxCeleb).

Re-implemented from the SLUE definitions.

**NER.** Entities are written in the text as ``TAG FILL word ... SEP`` with the 7 combined
tags. Each utterance becomes a list of ``(tag, phrase)`` pairs; repeated pairs are kept
distinct by an occurrence counter (``(tag, phrase, k)`` for the k-th repeat). F1 is
micro-averaged over all utterances from the per-utterance set intersections of these tuples;
label-F1 is the same with every phrase replaced by one constant, so that only the tags count.
Per-tag scores and their macro average (over the tags seen in the reference or hypothesis) are
reported too. Malformed hypotheses are parsed leniently, and each case is counted:

* a tag while a span is open: the open span is dropped (``unclosed_span``), the new one opens;
* a span closed by ``SEP`` without a ``FILL`` after its tag is kept (``missing_fill``);
* ``FILL`` anywhere but right after a tag is ignored (``stray_fill``);
* ``SEP`` without an open span is ignored (``sep_without_tag``);
* ``TAG [FILL] SEP`` with no words is dropped (``empty_phrase``);
* a span still open at the end of the utterance is dropped (``unclosed_span``).

Tags and markers glued to words (``SEP's``) are split off, which is safe because SLUE
transcripts are lower case; a text holding ``▁`` is taken as sentencepiece pieces and
detokenised first. The texts without ``TAG``/``FILL``/``SEP`` (with ``'s`` re-attached to the
word before, as the entity markup separates it) are written for the WER of the NER model.

**Sentiment.** The first token of each line is the label. macro-F1 and macro-recall are
computed by scikit-learn over the labels seen in the reference. A missing or empty hypothesis
is predicted as ``<none>``; such a prediction, like any label absent from the reference, is
wrong: it lowers the recall of the true class and the accuracy, but it is not a class of its
own, so it adds no all-zero class to the macro average (sklearn's default would).

All scores in ``result.json`` are percentages (0-100), as SLUE reports them.
"""

import argparse
import json
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import PathLike, write_map
from espnet2_ext.recipe.score import read_ref_hyp

NER_TAGS = ("PLACE", "QUANT", "ORG", "WHEN", "NORP", "PERSON", "LAW")
FILL, SEP = "FILL", "SEP"
MARKUP = frozenset(NER_TAGS + (FILL, SEP))
MARKUP_RE = re.compile("(" + "|".join(sorted(MARKUP)) + ")")
SP_SPACE = "▁"  # sentencepiece word-boundary mark
LABEL_PHRASE = "phrase"  # the constant phrase of label-F1
NO_LABEL = "<none>"

Entity = Tuple[str, str, int]  # (tag, phrase, occurrence)


# ----------------------------------------------------------------------------- NER parsing


def ner_words(text: str) -> List[str]:
    """Split a (word or sentencepiece) text into words with the markup as separate words."""
    if SP_SPACE in text:
        text = MARKUP_RE.sub(SP_SPACE + r"\1" + SP_SPACE, text)
        text = text.replace(" ", "").replace(SP_SPACE, " ")
    else:
        text = MARKUP_RE.sub(r" \1 ", text)
    return text.split()


@dataclass
class _Span:
    tag: str
    has_fill: bool = False
    words: List[str] = field(default_factory=list)


def parse_entities(words: Sequence[str]) -> Tuple[List[Tuple[str, str]], Counter]:
    """``(tag, phrase)`` pairs in order, and a count of each malformation met (see module doc)."""
    entities: List[Tuple[str, str]] = []
    problems: Counter = Counter()
    span: Optional[_Span] = None
    for word in words:
        if word in NER_TAGS:
            if span is not None:
                problems["unclosed_span"] += 1
            span = _Span(word)
        elif word == FILL:
            if span is None or span.has_fill or span.words:
                problems["stray_fill"] += 1
            else:
                span.has_fill = True
        elif word == SEP:
            if span is None:
                problems["sep_without_tag"] += 1
            elif not span.words:
                problems["empty_phrase"] += 1
            else:
                if not span.has_fill:
                    problems["missing_fill"] += 1
                entities.append((span.tag, " ".join(span.words)))
            span = None
        elif span is not None:
            span.words.append(word)
    if span is not None:
        problems["unclosed_span"] += 1
    return entities, problems


def make_distinct(pairs: Sequence[Tuple[str, str]]) -> List[Entity]:
    """Number repeats: the k-th occurrence of a pair becomes ``(tag, phrase, k)``."""
    seen: Counter = Counter()
    out: List[Entity] = []
    for pair in pairs:
        seen[pair] += 1
        out.append((*pair, seen[pair]))
    return out


def strip_markup(words: Sequence[str]) -> str:
    """The plain transcript: markup dropped, ``'s`` re-attached to the word before it."""
    return " ".join(w for w in words if w not in MARKUP).replace(" 's", "'s")


# ----------------------------------------------------------------------------- NER scoring


@dataclass(frozen=True)
class Counts:
    """Matched, reference and hypothesis entity counts, with their P/R/F1 (percent)."""

    correct: int = 0
    ref: int = 0
    hyp: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.correct + other.correct, self.ref + other.ref, self.hyp + other.hyp)

    def scores(self) -> Dict[str, float]:
        precision = _percent(self.correct, self.hyp)
        recall = _percent(self.correct, self.ref)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1}


def _percent(numerator: int, denominator: int) -> float:
    return numerator * 100.0 / denominator if denominator else 0.0


def count_per_tag(
    refs: Sequence[List[Entity]], hyps: Sequence[List[Entity]]
) -> Dict[str, Counts]:
    """Per-tag counts summed over utterances (set intersection within each utterance)."""
    per_tag: Dict[str, Counts] = {}
    for ref, hyp in zip(refs, hyps, strict=True):
        ref_set, hyp_set = set(ref), set(hyp)
        for tag in {e[0] for e in ref_set | hyp_set}:
            utt = Counts(
                correct=sum(1 for e in ref_set & hyp_set if e[0] == tag),
                ref=sum(1 for e in ref_set if e[0] == tag),
                hyp=sum(1 for e in hyp_set if e[0] == tag),
            )
            per_tag[tag] = per_tag.get(tag, Counts()) + utt
    return dict(sorted(per_tag.items()))


def ner_scores(refs: Sequence[List[Entity]], hyps: Sequence[List[Entity]]) -> Dict[str, object]:
    """Micro scores with counts, per-tag scores and the macro average over tags."""
    per_tag = count_per_tag(refs, hyps)
    total = sum(per_tag.values(), Counts())
    tag_scores = {tag: {**c.scores(), "num_correct": c.correct, "num_ref": c.ref,
                        "num_hyp": c.hyp} for tag, c in per_tag.items()}
    macro = {k: sum(s[k] for s in tag_scores.values()) / len(tag_scores) if tag_scores else 0.0
             for k in ("precision", "recall", "f1")}
    return {**total.scores(), "num_correct": total.correct, "num_ref": total.ref,
            "num_hyp": total.hyp, "macro": macro, "per_tag": tag_scores}


def score_ner(ref: Mapping[str, str], hyp: Mapping[str, str]) -> Dict[str, object]:
    """NER F1 and label-F1 over the reference utterances (a missing hypothesis is empty)."""
    uttids = sorted(ref)
    missing = [u for u in uttids if u not in hyp]
    if missing:
        logging.warning("%d utterance(s) have no hypothesis (no entities predicted): %s",
                        len(missing), " ".join(missing[:5]))
    parsed = {side: [parse_entities(ner_words(texts.get(u, ""))) for u in uttids]
              for side, texts in (("ref", ref), ("hyp", hyp))}

    def entities(side: str, label_only: bool) -> List[List[Entity]]:
        return [make_distinct([(tag, LABEL_PHRASE if label_only else phrase)
                               for tag, phrase in pairs]) for pairs, _ in parsed[side]]

    full = ner_scores(entities("ref", False), entities("hyp", False))
    label = ner_scores(entities("ref", True), entities("hyp", True))
    return {
        **full, "label_f1": label["f1"], "label": label,
        "num_utts": len(uttids), "num_missing_hyp": len(missing),
        "malformed": {side: dict(sum((problems for _, problems in parsed[side]), Counter()))
                      for side in parsed},
    }


def _ner_row(name: str, scores: Mapping[str, float], with_counts: bool = True) -> str:
    cells = "".join(f"{scores[k]:>10.2f}" for k in ("precision", "recall", "f1"))
    if with_counts:
        cells += f"{scores['num_correct']:>10}{scores['num_ref']:>8}{scores['num_hyp']:>8}"
    return f"{name:<16}{cells}"


def ner_report(result: Mapping[str, object]) -> str:
    """A readable table of the NER result."""
    lines = [f"NER on {result['num_utts']} utterances ({result['num_missing_hyp']} without "
             "hypothesis); percentages, micro-averaged unless marked macro", "",
             f"{'':<16}{'precision':>10}{'recall':>10}{'F1':>10}{'#correct':>10}{'#ref':>8}"
             f"{'#hyp':>8}"]
    for scores, name in ((result, "F1"), (result["label"], "label-F1")):
        lines.append(_ner_row(f"{name} micro", scores))
        lines.append(_ner_row(f"{name} macro", scores["macro"], with_counts=False))
        lines += [_ner_row(f"  {tag}", s) for tag, s in scores["per_tag"].items()]
    lines += ["", f"malformed spans: {json.dumps(result['malformed'], sort_keys=True)}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- sentiment


def first_token(text: str) -> str:
    tokens = text.split()
    return tokens[0] if tokens else NO_LABEL


def score_sentiment(ref: Mapping[str, str], hyp: Mapping[str, str]) -> Dict[str, object]:
    """macro-F1, macro-recall, accuracy, per-class scores and the confusion matrix."""
    uttids = sorted(ref)
    empty = [u for u in uttids if not ref[u].split()]
    if empty:
        raise DataError(f"reference utterance(s) without a label: {empty[:5]}")
    missing = [u for u in uttids if u not in hyp]
    if missing:
        logging.warning("%d utterance(s) have no hypothesis, counted as wrong: %s",
                        len(missing), " ".join(missing[:5]))
    y_true = [first_token(ref[u]) for u in uttids]
    y_pred = [first_token(hyp.get(u, "")) for u in uttids]
    labels = sorted(set(y_true))
    common = dict(labels=labels, zero_division=0)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, **common)
    matrix_labels = labels + sorted(set(y_pred) - set(labels))
    return {
        "macro_f1": 100.0 * f1_score(y_true, y_pred, average="macro", **common),
        "macro_recall": 100.0 * recall_score(y_true, y_pred, average="macro", **common),
        "accuracy": 100.0 * accuracy_score(y_true, y_pred),
        "num_utts": len(uttids),
        "num_missing_hyp": len(missing),
        "labels": labels,
        "per_class": {
            label: {"precision": 100.0 * p, "recall": 100.0 * r, "f1": 100.0 * f,
                    "support": int(n)}
            for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": matrix_labels,  # rows: reference, columns: hypothesis
            "matrix": confusion_matrix(y_true, y_pred, labels=matrix_labels).tolist(),
        },
        "report": classification_report(y_true, y_pred, digits=4, **common),
    }


def sentiment_report(result: Mapping[str, object]) -> str:
    """A readable summary: headline scores, sklearn's report and the confusion matrix."""
    cm = result["confusion_matrix"]
    width = max(len(lab) for lab in cm["labels"]) + 2
    lines = [f"Sentiment on {result['num_utts']} utterances ({result['num_missing_hyp']} "
             "without hypothesis)",
             f"macro-F1 {result['macro_f1']:.2f}  macro-recall {result['macro_recall']:.2f}  "
             f"accuracy {result['accuracy']:.2f}", "", result["report"],
             "confusion matrix (rows: reference, columns: hypothesis)",
             " " * width + "".join(f"{lab:>{width}}" for lab in cm["labels"])]
    lines += [f"{lab:<{width}}" + "".join(f"{n:>{width}}" for n in row)
              for lab, row in zip(cm["labels"], cm["matrix"], strict=True)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- CLI


def write_result(outdir: Path, result: Mapping[str, object], report: str) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (outdir / "result.txt").write_text(report, encoding="utf-8")


def run_ner(ref_path: PathLike, hyp_path: PathLike, outdir: Path) -> Dict[str, object]:
    ref, hyp = read_ref_hyp(ref_path, hyp_path)
    result = score_ner(ref, hyp)
    write_result(outdir, result, ner_report(result))
    for name, texts in (("ref_asr.txt", ref), ("hyp_asr.txt", hyp)):
        write_map(outdir / name, {u: strip_markup(ner_words(t)) for u, t in texts.items()})
    return result


def run_sentiment(ref_path: PathLike, hyp_path: PathLike, outdir: Path) -> Dict[str, object]:
    ref, hyp = read_ref_hyp(ref_path, hyp_path, allow_empty_ref=False)
    result = score_sentiment(ref, hyp)
    write_result(outdir, {k: v for k, v in result.items() if k != "report"},
                 sentiment_report(result))
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.corpora.slue_metrics",
        description="SLUE metrics from Kaldi 'uttid text' files. 'ner': F1 and label-F1 of "
        "'TAG FILL words SEP' spans, plus ref_asr.txt/hyp_asr.txt without the markup (for "
        "WER). 'sentiment': macro-F1/macro-recall of the first token of each line. Writes "
        "result.json (percentages) and result.txt into --outdir.",
    )
    parser.add_argument("task", choices=("ner", "sentiment"))
    parser.add_argument("--ref", required=True, help="reference text file (uttid text)")
    parser.add_argument("--hyp", required=True, help="hypothesis text file (uttid text)")
    parser.add_argument("--outdir", required=True, type=Path, help="output directory")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    if args.task == "ner":
        result = run_ner(args.ref, args.hyp, args.outdir)
        logging.info("%s: NER F1 %.2f label-F1 %.2f", args.outdir, result["f1"],
                     result["label_f1"])
    else:
        result = run_sentiment(args.ref, args.hyp, args.outdir)
        logging.info("%s: sentiment macro-F1 %.2f macro-recall %.2f", args.outdir,
                     result["macro_f1"], result["macro_recall"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
