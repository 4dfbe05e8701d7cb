"""Is system B really better than system A? Paired bootstrap over the utterances of one test set.

The method is Bisani & Ney (2004), "Bootstrap estimates for confidence intervals in ASR
performance evaluation" (ICASSP 2004): draw utterances with replacement, the *same* draws for both
systems (the comparison is paired), and compute each system's error rate on every resample as
sum(errors) / sum(reference lengths). Reported:

* the observed rates of A and B and their difference B - A (negative: B makes fewer errors);
* a 95 % percentile confidence interval of the difference over the resamples;
* the probability of improvement ("poi"), P(B better) = share of resamples where B's rate is
  strictly below A's. Ties count as "not better", so two identical systems get P(B better) = 0
  (and so would P(A better)); ties are frequent with 0/1 errors on small test sets.

Several seeds per system: ``--a`` and ``--b`` each take one decode dir per training seed. A
system's per-utterance errors are averaged over its seeds before bootstrapping, so the test
compares the systems' *expected* per-utterance error (over seeds) and the bootstrap interval covers
test-set sampling only. The spread due to the seed is reported separately: each seed's own rate,
their mean (which equals the averaged system's rate, as the seeds share the reference lengths) and
their sample standard deviation.

Inputs, as stage 13 writes them (``espnet2_ext/recipe/score.py``):

* ``--unit wer|cer``: ``<decode_dir>/score_{wer,cer}/{ref.trn,hyp.trn}``; utterances are keyed by
  their trn id ``(spk-uttid)``, and each utterance is re-aligned with ``score.score`` (jiwer's
  Levenshtein alignment), so per-utterance errors add up to ``result.json``'s ``err``;
* ``--unit acc``: ``<decode_dir>/text`` (``uttid label``) against ``--ref`` (a Kaldi ``uttid
  label`` file); the error of an utterance is 0 or 1 and its length 1, so the rate is 1 - accuracy.
  A missing hypothesis counts as wrong, as in the sentiment scoring of stage 13 (the trn files of
  wer/cer likewise hold a missing hypothesis as an empty one, i.e. all deletions).

All decode dirs must hold exactly the same utterances with the same reference lengths, otherwise
a ``DataError`` names the dir and the first missing or extra utterance.

What is hand-written and why: the resampling itself (a few lines of numpy). No maintained PyPI
package offers a paired bootstrap over per-utterance ASR errors with pooling of several seeds per
system (``scipy.stats.bootstrap`` resamples a statistic of independent samples but has neither the
ratio-of-sums error rate paired over two systems nor the probability of improvement); the
alignment is jiwer's, through ``score.py``, and not re-implemented here.

Command line (rates are printed in %, stored as fractions in ``--json``)::

    python -m espnet2_ext.recipe.significance --unit cer \\
        --a exp/A_seed1/decode/test exp/A_seed2/decode/test --b exp/B_seed1/decode/test ... \\
        [--num_samples 1000] [--seed 0] [--json OUT.json]
    python -m espnet2_ext.recipe.significance --unit acc --ref dump/raw/test/text.sentiment \\
        --a DIR... --b DIR...
"""

import argparse
import json
import logging
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import PathLike, read_map
from espnet2_ext.recipe.score import score

UNITS = ("wer", "cer", "acc")
CI_PERCENTILES = (2.5, 97.5)  # a two-sided 95 % percentile interval
# Resamples are drawn in blocks of about this many indices, so that memory stays bounded (a few
# tens of MB) however large the test set; the block size depends only on the number of utterances,
# so results depend only on (seed, number of utterances, num_samples).
BLOCK_ELEMENTS = 1 << 20
TRN_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()\s]+)\)\s*$")

UttErrors = Dict[str, Tuple[float, int]]  # utterance -> (errors, reference length)


# ----------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of B against A; rates are fractions (0.25 = 25 %)."""

    rate_a: float
    rate_b: float
    diff: float  # rate_b - rate_a: negative when B makes fewer errors
    ci_low: float
    ci_high: float
    prob_b_better: float  # share of resamples with rate_b < rate_a (ties: not better)
    num_samples: int  # resamples used (those whose reference is not empty)
    num_utts: int


def _as_vectors(errors_a: Sequence[float], errors_b: Sequence[float],
                lengths: Sequence[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = tuple(np.asarray(x, dtype=np.float64) for x in (errors_a, errors_b, lengths))
    if any(x.ndim != 1 or x.shape != arrays[0].shape for x in arrays) or not arrays[0].size:
        raise ValueError("errors_a, errors_b and lengths must be non-empty vectors of one length, "
                         f"not of shapes {[x.shape for x in arrays]}")
    if (arrays[2] < 0).any() or arrays[2].sum() <= 0:
        raise DataError("reference lengths must be >= 0 with a positive total (the reference "
                        "has no tokens: error rates are undefined)")
    return arrays


def _resampled_sums(values: np.ndarray, num_samples: int, seed: int) -> np.ndarray:
    """(num_samples, rows of values): the column sums of ``values`` over utterances drawn with
    replacement; every row (system) uses the same draws, which makes the comparison paired."""
    n = values.shape[1]
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_ELEMENTS // n)
    sums = []
    for start in range(0, num_samples, block):
        index = rng.integers(0, n, size=(min(block, num_samples - start), n))
        sums.append(values[:, index].sum(axis=2).T)
    return np.concatenate(sums)


def paired_bootstrap(errors_a: Sequence[float], errors_b: Sequence[float],
                     lengths: Sequence[float], num_samples: int = 1000,
                     seed: int = 0) -> BootstrapResult:
    """Bisani & Ney's paired bootstrap of two systems' per-utterance errors on one test set.

    ``errors_a[i]``, ``errors_b[i]``: errors of utterance i (may be fractional: seed averages);
    ``lengths[i]``: its reference length. A resample whose reference is empty (only possible with
    empty reference utterances) has no rate and is left out of the interval and of P(B better).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, not {num_samples}")
    err_a, err_b, length = _as_vectors(errors_a, errors_b, lengths)
    sums = _resampled_sums(np.stack([err_a, err_b, length]), num_samples, seed)
    sums = sums[sums[:, 2] > 0]
    if not len(sums):
        raise DataError("every resample drew only empty references: error rates are undefined")
    rates_a, rates_b = sums[:, 0] / sums[:, 2], sums[:, 1] / sums[:, 2]
    low, high = np.percentile(rates_b - rates_a, CI_PERCENTILES)
    rate_a, rate_b = err_a.sum() / length.sum(), err_b.sum() / length.sum()
    return BootstrapResult(
        rate_a=float(rate_a), rate_b=float(rate_b), diff=float(rate_b - rate_a),
        ci_low=float(low), ci_high=float(high),
        prob_b_better=float(np.mean(rates_b < rates_a)),
        num_samples=len(sums), num_utts=len(length),
    )


# ----------------------------------------------------------------------------- reading errors


def _existing(path: PathLike) -> PathLike:
    """The path itself; a missing file is a one-line DataError (e.g. stage 13 was not run)."""
    if not Path(path).is_file():
        raise at(path, None, "no such file")
    return path


def read_trn(path: PathLike) -> Dict[str, str]:
    """sclite trn lines ``tokens<TAB>(spk-uttid)`` -> {trn id: tokens}."""
    out: Dict[str, str] = {}
    with open(_existing(path), encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            match = TRN_LINE.match(line.rstrip("\n"))
            if not match:
                raise at(path, lineno, "not a trn line 'tokens<TAB>(spk-uttid)'")
            if match["id"] in out:
                raise at(path, lineno, f"duplicate id '{match['id']}'")
            out[match["id"]] = match["text"]
    if not out:
        raise at(path, None, "no utterances")
    return out


def score_dir_errors(score_dir: PathLike) -> UttErrors:
    """Per-utterance (S+D+I, reference length) of a stage-13 ``score_<unit>`` dir."""
    score_dir = Path(score_dir)
    ref, hyp = (read_trn(score_dir / f"{side}.trn") for side in ("ref", "hyp"))
    _check_same_utts(score_dir / "hyp.trn", set(hyp), set(ref), score_dir / "ref.trn")
    # The trn texts are already tokens separated by spaces, hence the whitespace tokenizer; score()
    # re-aligns them with jiwer exactly as stage 13 did.
    summary = score(ref, hyp, tokenizer=str.split)
    return {u.uttid: (float(sum(u.counts[1:])), len(u.ref)) for u in summary.utts}


def first_token(text: str) -> str:
    """The label of a classification line (its first token, as stage 13's sentiment scoring)."""
    tokens = text.split()
    return tokens[0] if tokens else ""


def label_errors(hyp_path: PathLike, ref: Mapping[str, str]) -> UttErrors:
    """Per-utterance (0/1 error, length 1) of a classification ``text`` against the reference."""
    hyp = read_map(_existing(hyp_path), allow_empty=True)
    extra = sorted(set(hyp) - set(ref))
    if extra:
        raise at(hyp_path, None, f"{len(extra)} utterance(s) not in the reference, first "
                 f"'{extra[0]}'")
    missing = sorted(set(ref) - set(hyp))
    if missing:  # counted wrong, so that the rate matches stage 13's accuracy
        logging.warning("%s: %d utterance(s) without hypothesis, counted as wrong: %s",
                        hyp_path, len(missing), " ".join(missing[:5]))
    return {u: (float(first_token(hyp.get(u, "")) != first_token(ref[u])), 1) for u in ref}


def decode_dir_errors(decode_dir: PathLike, unit: str,
                      ref: Optional[Mapping[str, str]] = None) -> UttErrors:
    """Per-utterance errors of one decode dir for ``unit`` (wer, cer or acc with ``ref``)."""
    if unit == "acc":
        if ref is None:
            raise ValueError("unit 'acc' needs the reference labels")
        return label_errors(Path(decode_dir) / "text", ref)
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, not '{unit}'")
    return score_dir_errors(Path(decode_dir) / f"score_{unit}")


def _check_same_utts(path: PathLike, found: set, expected: set, expected_from: PathLike) -> None:
    for what, ids in (("missing", expected - found), ("extra", found - expected)):
        if ids:
            raise at(path, None, f"{len(ids)} {what} utterance(s) compared with {expected_from}, "
                     f"first '{min(ids)}'")


def stack_errors(per_dir: Sequence[Tuple[PathLike, UttErrors]]
                 ) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(utterances, errors of shape (dirs, utterances), lengths): the dirs must hold the same
    utterances, with the same reference lengths (i.e. the same test set and reference)."""
    first_dir, first = per_dir[0]
    uttids = sorted(first)
    lengths = np.array([first[u][1] for u in uttids], dtype=np.float64)
    for path, errors in per_dir[1:]:
        _check_same_utts(path, set(errors), set(first), first_dir)
        differs = next((u for u in uttids if errors[u][1] != first[u][1]), None)
        if differs is not None:
            raise at(path, None, f"the reference of '{differs}' has {errors[differs][1]} tokens, "
                     f"{first[differs][1]} in {first_dir}: not scored against the same reference")
    matrix = np.array([[errors[u][0] for u in uttids] for _, errors in per_dir])
    return uttids, matrix, lengths


# ----------------------------------------------------------------------------- systems


@dataclass(frozen=True)
class System:
    """One system on one test set: per-utterance errors of each seed's decode."""

    dirs: Tuple[str, ...]
    errors: np.ndarray  # (seeds, utterances)
    lengths: np.ndarray  # (utterances,)

    def seed_rates(self) -> List[float]:
        return [float(e.sum() / self.lengths.sum()) for e in self.errors]

    def mean_errors(self) -> np.ndarray:
        """Per-utterance errors averaged over the seeds (the expected error of the system)."""
        return self.errors.mean(axis=0)

    def seed_summary(self) -> Dict[str, object]:
        """Each seed's rate, their mean and sample standard deviation (None for one seed)."""
        rates = self.seed_rates()
        std = float(np.std(rates, ddof=1)) if len(rates) > 1 else None
        return {"dirs": list(self.dirs), "seed_rates": rates, "mean": float(np.mean(rates)),
                "std": std}


def load_systems(unit: str, dirs_a: Sequence[PathLike], dirs_b: Sequence[PathLike],
                 ref_path: Optional[PathLike] = None) -> Tuple[System, System]:
    """Read both systems' decode dirs; all of them must cover the same utterances."""
    ref = read_map(_existing(ref_path)) if unit == "acc" and ref_path is not None else None
    dirs = [str(d) for d in (*dirs_a, *dirs_b)]
    per_dir = [(_source(d, unit), decode_dir_errors(d, unit, ref)) for d in dirs]
    _, matrix, lengths = stack_errors(per_dir)
    split = len(dirs_a)
    return (System(tuple(dirs[:split]), matrix[:split], lengths),
            System(tuple(dirs[split:]), matrix[split:], lengths))


def _source(decode_dir: str, unit: str) -> Path:
    """The file or dir that errors messages name for a decode dir."""
    return Path(decode_dir) / ("text" if unit == "acc" else f"score_{unit}")


def compare(a: System, b: System, num_samples: int = 1000, seed: int = 0) -> Dict[str, object]:
    """The seed summaries of both systems and the paired bootstrap of their seed averages."""
    result = paired_bootstrap(a.mean_errors(), b.mean_errors(), a.lengths, num_samples, seed)
    return {"a": a.seed_summary(), "b": b.seed_summary(), "bootstrap": asdict(result)}


def _system_text(name: str, summary: Mapping[str, object]) -> str:
    rates = summary["seed_rates"]
    if len(rates) == 1:
        return f"{name} {100 * summary['mean']:.1f} % (1 seed)"
    seeds = ", ".join(f"{100 * r:.1f}" for r in rates)
    return f"{name} {100 * summary['mean']:.1f} % (seeds {seeds}; sd {100 * summary['std']:.1f})"


def summary_line(unit: str, comparison: Mapping[str, object]) -> str:
    """E.g. ``CER: A 37.2 % (seeds ...; sd 0.6) | B 35.1 % (...) | B-A -2.1 [-3.0, -1.2] 95 % CI |
    P(B better) 1.000 (1000 resamples)``; differences are in percentage points."""
    boot = comparison["bootstrap"]
    name = "ACC error" if unit == "acc" else unit.upper()
    return " | ".join([
        f"{name}: " + _system_text("A", comparison["a"]),
        _system_text("B", comparison["b"]),
        (f"B-A {100 * boot['diff']:+.1f} [{100 * boot['ci_low']:+.1f}, "
         f"{100 * boot['ci_high']:+.1f}] 95 % CI"),
        f"P(B better) {boot['prob_b_better']:.3f} ({boot['num_samples']} resamples)",
    ])


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.significance",
        description="Paired bootstrap (Bisani & Ney 2004) of system B against system A on one "
        "test set, from stage 13's decode dirs; several dirs per system (one per seed) are "
        "averaged per utterance. Prints rates, B-A with a 95 %% CI and P(B better).",
    )
    parser.add_argument("--unit", choices=UNITS, required=True,
                        help="wer / cer: <dir>/score_{wer,cer}/{ref,hyp}.trn; acc: <dir>/text "
                        "(uttid label) against --ref, error = 1 - accuracy")
    parser.add_argument("--a", nargs="+", required=True, metavar="DIR",
                        help="decode dirs of system A (one per seed)")
    parser.add_argument("--b", nargs="+", required=True, metavar="DIR",
                        help="decode dirs of system B (one per seed)")
    parser.add_argument("--ref", default=None, help="reference labels (uttid label), --unit acc")
    parser.add_argument("--num_samples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the resampling")
    parser.add_argument("--json", default=None, help="also write the numbers to this json file")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.unit == "acc") != (args.ref is not None):
        parser.error("--ref is needed with --unit acc, and only then")
    if args.num_samples < 1:
        parser.error("--num_samples must be >= 1")
    a, b = load_systems(args.unit, args.a, args.b, args.ref)
    comparison = {"unit": args.unit, **compare(a, b, args.num_samples, args.seed)}
    print(summary_line(args.unit, comparison))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(comparison, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
