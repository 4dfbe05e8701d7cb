"""Stage 13 error rates (WER / CER / TER) without sclite.

Both inputs are Kaldi ``uttid transcript`` files. Texts are tokenised with ESPnet's own
tokenisers, as ``asr.sh`` stage 13 does through ``espnet2.bin.tokenize_text``:

* ``word``: whitespace-separated words;
* ``char``: characters, a space becoming ``<space>``; non-linguistic symbols stay atomic;
* ``token``: the pieces of ``--bpemodel`` (sentencepiece), or whitespace words without one.

Texts are whitespace-normalised first (Kaldi ``text`` values only use spaces to separate words),
and in ``char`` mode runs of ``<space>`` left by removed symbols are collapsed, so that removing a
symbol does not create spurious space tokens (ESPnet's stage 13 keeps them).

Each utterance is aligned with a minimum-edit-distance (unit cost) Levenshtein alignment from
``jiwer`` (sclite weighs substitutions 4 and insertions/deletions 3 by default, so the split
between S, D and I can differ in rare ties, never the edit distance). A reference utterance
missing from the hypothesis counts as all deletions (with a warning); a hypothesis utterance
absent from the reference is an error.

Outputs in ``--outdir``:

* ``ref.trn``, ``hyp.trn``: sclite trn lines ``tokens<TAB>(spk-uttid)`` as ESPnet writes them; the
  speaker comes from ``--utt2spk`` and is the uttid itself without one;
* ``result.txt``: an sclite-like summary (the ``| Sum/Avg | ... |`` line that ESPnet's
  ``show_asr_result.sh`` greps) followed by per-utterance REF/HYP/Eval alignment blocks
  (tokens are shown as they are, not upper-cased as sclite does, since NER tags are upper case);
* ``result.json``: counts (``num_*``) and percentages (``corr``, ``sub``, ``del``, ``ins``,
  ``err`` = (S+D+I)/N*100, ``snt_err`` = share of utterances with any error).
"""

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import jiwer
from espnet2.text.char_tokenizer import CharTokenizer
from espnet2.text.sentencepiece_tokenizer import SentencepiecesTokenizer
from espnet2.text.word_tokenizer import WordTokenizer

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import PathLike, iter_lines, read_map

UNITS = ("word", "char", "token")
SPACE = "<space>"
GAP = "***"  # sclite's filler for the missing side of an insertion or deletion
EVAL_MARK = {"equal": "", "substitute": "S", "delete": "D", "insert": "I"}

Tokenizer = Callable[[str], List[str]]


@dataclass(frozen=True)
class UttScore:
    """Alignment of one utterance and its Corr/Sub/Del/Ins counts."""

    uttid: str
    ref: List[str]
    hyp: List[str]
    alignment: List[jiwer.AlignmentChunk]

    @property
    def counts(self) -> Tuple[int, int, int, int]:
        """(corr, sub, del, ins)."""
        n = dict.fromkeys(EVAL_MARK, 0)
        for chunk in self.alignment:
            if chunk.type == "insert":
                n[chunk.type] += chunk.hyp_end_idx - chunk.hyp_start_idx
            else:
                n[chunk.type] += chunk.ref_end_idx - chunk.ref_start_idx
        return n["equal"], n["substitute"], n["delete"], n["insert"]


@dataclass(frozen=True)
class ScoreSummary:
    """Scores of a whole test set."""

    unit: str
    utts: List[UttScore]
    num_missing_hyp: int

    def totals(self) -> Dict[str, int]:
        """Counts: sentences, reference tokens, corr/sub/del/ins, sentences with errors."""
        corr, sub, dele, ins = (sum(u.counts[i] for u in self.utts) for i in range(4))
        return {
            "num_snt": len(self.utts),
            "num_wrd": corr + sub + dele,
            "num_corr": corr,
            "num_sub": sub,
            "num_del": dele,
            "num_ins": ins,
            "num_snt_err": sum(1 for u in self.utts if sum(u.counts[1:]) > 0),
        }

    def rates(self) -> Dict[str, float]:
        """Percentages as sclite reports them (all relative to the reference length)."""
        t = self.totals()
        if t["num_wrd"] == 0:
            raise DataError("the reference has no tokens: error rates are undefined")
        per_wrd = {k: t[f"num_{k}"] * 100.0 / t["num_wrd"] for k in ("corr", "sub", "del", "ins")}
        per_wrd["err"] = (t["num_sub"] + t["num_del"] + t["num_ins"]) * 100.0 / t["num_wrd"]
        return {**per_wrd, "snt_err": t["num_snt_err"] * 100.0 / t["num_snt"]}

    def to_json(self) -> Dict[str, object]:
        return {"unit": self.unit, **self.totals(), **self.rates(),
                "num_missing_hyp": self.num_missing_hyp}

    def sum_avg_line(self) -> str:
        """The sclite summary line that ESPnet's show_asr_result.sh greps."""
        t, r = self.totals(), self.rates()
        rates = " ".join(f"{r[k]:.1f}" for k in ("corr", "sub", "del", "ins", "err", "snt_err"))
        return f"| Sum/Avg | {t['num_snt']} {t['num_wrd']} | {rates} |"


def parse_nlsyms(value: Optional[str]) -> List[str]:
    """Non-linguistic symbols from a comma list or from a file with one symbol per line."""
    if not value:
        return []
    if Path(value).is_file():
        return [s for s in Path(value).read_text(encoding="utf-8").split() if s]
    return [s for s in value.split(",") if s]


def make_tokenizer(
    unit: str,
    nlsyms: Sequence[str] = (),
    remove_nlsyms: bool = False,
    bpemodel: Optional[PathLike] = None,
) -> Tokenizer:
    """Text -> tokens for one scoring unit, with ESPnet's tokenisers."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, not '{unit}'")
    if unit == "char":
        tokenizer = CharTokenizer(non_linguistic_symbols=list(nlsyms), space_symbol=SPACE,
                                  remove_non_linguistic_symbols=remove_nlsyms)
        return lambda text: _collapse_spaces(tokenizer.text2tokens(text))
    if unit == "token" and bpemodel is not None:
        if remove_nlsyms:
            raise ValueError("--remove_nlsyms is not supported with a bpemodel (as in ESPnet)")
        return SentencepiecesTokenizer(str(bpemodel)).text2tokens
    if remove_nlsyms and nlsyms:
        return WordTokenizer(non_linguistic_symbols=list(nlsyms),
                             remove_non_linguistic_symbols=True).text2tokens
    return str.split


def _collapse_spaces(tokens: List[str]) -> List[str]:
    """Drop leading/trailing and repeated <space> tokens."""
    out: List[str] = []
    for token in tokens:
        if token != SPACE or (out and out[-1] != SPACE):
            out.append(token)
    return out[:-1] if out and out[-1] == SPACE else out


def score(
    ref: Mapping[str, str],
    hyp: Mapping[str, str],
    unit: str = "word",
    tokenizer: Optional[Tokenizer] = None,
) -> ScoreSummary:
    """Align every reference utterance with its hypothesis (empty when missing)."""
    extra = sorted(set(hyp) - set(ref))
    if extra:
        raise DataError(f"{len(extra)} hypothesis utterance(s) not in the reference: {extra[:5]}")
    missing = sorted(set(ref) - set(hyp))
    if missing:
        logging.warning("%d utterance(s) have no hypothesis, counted as deletions: %s%s",
                        len(missing), " ".join(missing[:5]), " ..." if len(missing) > 5 else "")
    tokenize = tokenizer or make_tokenizer(unit)
    uttids = sorted(ref)
    refs = [tokenize(" ".join(ref[u].split())) for u in uttids]
    hyps = [tokenize(" ".join(hyp.get(u, "").split())) for u in uttids]
    # Tokens contain no spaces, so joining with spaces round-trips through jiwer's word split.
    output = jiwer.process_words([" ".join(t) for t in refs], [" ".join(t) for t in hyps])
    utts = [UttScore(*fields)
            for fields in zip(uttids, refs, hyps, output.alignments, strict=True)]
    return ScoreSummary(unit=unit, utts=utts, num_missing_hyp=len(missing))


def read_ref_hyp(
    ref_path: PathLike, hyp_path: PathLike, allow_empty_ref: bool = True
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Read reference and hypothesis; a hypothesis id absent from the reference is an error."""
    ref = read_map(ref_path, allow_empty=allow_empty_ref)
    hyp = read_map(hyp_path, allow_empty=True)
    if not ref:
        raise at(ref_path, None, "no utterances")
    if not set(hyp) <= set(ref):
        lineno, key = next((n, k) for n, k, _ in iter_lines(hyp_path) if k not in ref)
        raise at(hyp_path, lineno, f"utterance '{key}' is not in the reference {ref_path}")
    return ref, hyp


def alignment_block(utt: UttScore, trn_id: str) -> List[str]:
    """sclite-style ``id/Scores/REF/HYP/Eval`` lines, one padded column per aligned pair."""
    columns: List[Tuple[str, str, str]] = []
    for chunk in utt.alignment:
        refs = utt.ref[chunk.ref_start_idx:chunk.ref_end_idx]
        hyps = utt.hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        width = max(len(refs), len(hyps))
        refs = refs + [GAP] * (width - len(refs))
        hyps = hyps + [GAP] * (width - len(hyps))
        columns += [(r, h, EVAL_MARK[chunk.type]) for r, h in zip(refs, hyps, strict=True)]
    widths = [max(len(r), len(h)) for r, h, _ in columns]

    def row(name: str, index: int) -> str:
        cells = " ".join(c[index].ljust(w) for c, w in zip(columns, widths, strict=True))
        return f"{name + ':':<6}{cells}".rstrip()

    return [f"id: ({trn_id})", "Scores: (#C #S #D #I) " + " ".join(map(str, utt.counts)),
            row("REF", 0), row("HYP", 1), row("Eval", 2), ""]


def write_outputs(summary: ScoreSummary, outdir: PathLike,
                  utt2spk: Optional[Mapping[str, str]] = None) -> None:
    """Write ref.trn, hyp.trn, result.txt and result.json into ``outdir``."""
    result = summary.to_json()  # first, so that undefined rates fail before any file is written
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    trn_ids = {u.uttid: f"{(utt2spk or {}).get(u.uttid, u.uttid)}-{u.uttid}" for u in summary.utts}
    for side in ("ref", "hyp"):
        lines = [f"{' '.join(getattr(u, side))}\t({trn_ids[u.uttid]})\n" for u in summary.utts]
        (outdir / f"{side}.trn").write_text("".join(lines), encoding="utf-8")
    report = [f"Scoring unit: {summary.unit}", "",
              "| SPKR | # Snt # Wrd | Corr Sub Del Ins Err S.Err |",
              summary.sum_avg_line(), ""]
    for utt in summary.utts:
        report += alignment_block(utt, trn_ids[utt.uttid])
    (outdir / "result.txt").write_text("\n".join(report), encoding="utf-8")
    (outdir / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.score",
        description="Score a hypothesis against a reference (Kaldi 'uttid text' files) at "
        "word, char or token level, as asr.sh stage 13 does with sclite. Writes ref.trn, "
        "hyp.trn, result.txt (with the '| Sum/Avg |' line) and result.json into --outdir.",
    )
    parser.add_argument("--ref", required=True, help="reference text file (uttid transcript)")
    parser.add_argument("--hyp", required=True, help="hypothesis text file (uttid transcript)")
    parser.add_argument("--unit", choices=UNITS, default="word",
                        help="word (WER), char (CER, space = <space>) or token (TER)")
    parser.add_argument("--nlsyms", default=None,
                        help="non-linguistic symbols: comma list ('FILL,SEP') or a file with one "
                        "symbol per line; kept atomic in char mode")
    parser.add_argument("--remove_nlsyms", action="store_true",
                        help="drop the non-linguistic symbols before scoring (word/char)")
    parser.add_argument("--bpemodel", default=None,
                        help="sentencepiece model for --unit token (else whitespace tokens)")
    parser.add_argument("--utt2spk", default=None,
                        help="utt2spk file to write '(spk-uttid)' trn ids (default: uttid-uttid)")
    parser.add_argument("--outdir", required=True, help="output directory")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    ref, hyp = read_ref_hyp(args.ref, args.hyp)
    tokenizer = make_tokenizer(args.unit, parse_nlsyms(args.nlsyms), args.remove_nlsyms,
                               args.bpemodel)
    summary = score(ref, hyp, unit=args.unit, tokenizer=tokenizer)
    utt2spk = read_map(args.utt2spk) if args.utt2spk else None
    write_outputs(summary, args.outdir, utt2spk)
    logging.info("%s: %s", args.outdir, summary.sum_avg_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
