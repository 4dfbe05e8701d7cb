"""Word n-gram language models in ARPA format: estimation (ssl_ft.sh stage 9) and queries (CTC
decoding with an LM, ``espnet2_ext.ctc_lm``).

    python -m espnet2_ext.recipe.ngram --text dump/raw/train/text --order 4 --out exp/ngram/asr/4gram.arpa

``--text`` is a Kaldi text file (``<utt-id> <words>``). Non-linguistic symbols (NER's entity tags)
stay words of the LM: the model emits them, and the search scores them like any word.

The estimator is hand-written because no package of the registry builds ARPA files here: KenLM's
``lmplz`` is not part of the ``kenlm`` package (its build stops before KenLM's builder, which also
needs Boost), NLTK's ``nltk.lm`` estimates but writes no ARPA, and ``arpabo``'s Kneser-Ney writes
backoff weights of 1, so its distributions do not sum to 1.

It is **interpolated Kneser-Ney with one discount per order** (Chen & Goodman's D = n1 / (n1 + 2 n2)
from the order's counts of counts; lmplz uses modified Kneser-Ney, three discounts per order):

- the highest order and n-grams that start with ``<s>`` use raw counts ``a``; lower orders use
  continuation counts (the number of distinct words seen before the n-gram), as lmplz does;
- p(w | h) = max(a(hw) - D, 0) / a(h·) + gamma(h) p(w | h'), gamma(h) = D |{w: a(hw) > 0}| / a(h·),
  h' being h without its first word; the unigrams interpolate with the uniform distribution over
  the vocabulary (the words, ``</s>`` and ``<unk>``; ``<s>`` is never predicted);
- the ARPA file lists p(w | h) of every n-gram seen and gamma(h) as the backoff weight of h, so
  a backoff query gives the interpolated probability of an unseen n-gram exactly.
If D is undefined or not in (0, 1) (no singletons or no doubletons, e.g. a tiny corpus), D = 0.5.
"""

import argparse
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import iter_lines

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNT = 0.5
NEVER = -99.0  # ARPA's log10 probability of <s> (a context, never predicted)

Ngram = Tuple[str, ...]


def read_sentences(text: Path) -> List[List[str]]:
    """The word lists of a Kaldi text file (utterance ids dropped); empty utterances are skipped."""
    sentences = []
    for _, _, value in iter_lines(text):  # the project's Kaldi-file reader: bad lines named
        words = value.split()
        if words:
            sentences.append(words)
    return sentences


def kn_counts(sentences: Iterable[Sequence[str]], order: int) -> List[Dict[Ngram, int]]:
    """Kneser-Ney's counts ``a`` of each order (list index n-1): raw counts for the highest order
    and for n-grams starting with ``<s>``, continuation counts for the others."""
    raw: Counter = Counter()
    for words in sentences:
        padded = (BOS, *words, EOS)
        for n in range(1, order + 1):
            raw.update(padded[i:i + n] for i in range(len(padded) - n + 1))
    continuation: Counter = Counter(g[1:] for g in raw if len(g) > 1)  # distinct words before g[1:]
    return [
        {g: raw[g] if n == order or g[0] == BOS else continuation[g] for g in raw if len(g) == n}
        for n in range(1, order + 1)
    ]


def discount(counts: Dict[Ngram, int]) -> float:
    """Chen & Goodman's single discount n1 / (n1 + 2 n2) of one order's counts."""
    of_counts = Counter(counts.values())
    d = of_counts[1] / (of_counts[1] + 2 * of_counts[2]) if of_counts[1] + of_counts[2] else 0.0
    return d if 0.0 < d < 1.0 else FALLBACK_DISCOUNT


def estimate(sentences: Iterable[Sequence[str]], order: int) -> List[Dict[Ngram, Tuple[float, Optional[float]]]]:
    """Interpolated Kneser-Ney: for each order, ``{ngram: (log10 p(w | h), log10 backoff or None)}``
    of the n-grams seen (see the module's docstring)."""
    if order < 1:
        raise ValueError(f"the n-gram order must be at least 1: {order}")
    counts = kn_counts(sentences, order)
    counts[0].pop((BOS,), None)  # a context, never predicted
    counts[0].setdefault((UNK,), 0)
    probs: Dict[Ngram, float] = {}
    gammas: Dict[Ngram, float] = {}
    for n, grams in enumerate(counts, start=1):
        d = discount({g: c for g, c in grams.items() if c > 0})
        totals: Dict[Ngram, int] = defaultdict(int)
        types: Dict[Ngram, int] = defaultdict(int)
        for g, c in grams.items():
            totals[g[:-1]] += c
            types[g[:-1]] += c > 0
        for h in totals:
            gammas[h] = d * types[h] / totals[h]
        for g, c in grams.items():
            lower = probs[g[1:]] if n > 1 else 1.0 / len(grams)
            probs[g] = max(c - d, 0.0) / totals[g[:-1]] + gammas[g[:-1]] * lower
    arpa: List[Dict[Ngram, Tuple[float, Optional[float]]]] = [{} for _ in range(order)]
    arpa[0][(BOS,)] = (NEVER, None)
    for g, p in probs.items():
        arpa[len(g) - 1][g] = (math.log10(p), None)
    for h, gamma in gammas.items():
        if h and len(h) < order:  # () is the unigrams' context: its mass went to the uniform
            arpa[len(h) - 1][h] = (arpa[len(h) - 1][h][0], math.log10(gamma))
    return arpa


def write_arpa(arpa: Sequence[Dict[Ngram, Tuple[float, Optional[float]]]], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["", "\\data\\", *(f"ngram {n}={len(grams)}" for n, grams in enumerate(arpa, start=1))]
    for n, grams in enumerate(arpa, start=1):
        lines += ["", f"\\{n}-grams:"]
        for g, (logp, backoff) in sorted(grams.items()):
            fields = [f"{logp:.7g}", " ".join(g)] + ([] if backoff is None else [f"{backoff:.7g}"])
            lines.append("\t".join(fields))
    path.write_text("\n".join(lines + ["", "\\end\\", ""]), encoding="utf-8")


class ArpaLM:
    """Backoff queries of an ARPA file, in memory (the small word LMs of these recipes)."""

    def __init__(self, path: Path):
        self.logp: Dict[Ngram, float] = {}
        self.backoff: Dict[Ngram, float] = {}
        section = 0
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.endswith("-grams:"):
                section = int(line[1:line.index("-")])
            elif section and line and not line.startswith("\\"):
                fields = line.split()
                gram = tuple(fields[1:1 + section])
                self.logp[gram] = float(fields[0])
                if len(fields) > section + 1:
                    self.backoff[gram] = float(fields[-1])
        self.order = max(map(len, self.logp))
        self.vocab = {g[0] for g in self.logp if len(g) == 1}
        if (UNK,) not in self.logp:
            raise ValueError(f"{path}: no {UNK} unigram (out-of-vocabulary words need one)")
        # every prefix of a word: lets a search penalise a partial word no word can complete
        self.prefixes = {w[:i] for w in self.vocab for i in range(1, len(w) + 1)}

    def log10_prob(self, context: Sequence[str], word: str) -> float:
        """log10 p(word | context), backing off as ARPA files do; unknown words are <unk>."""
        word = word if word in self.vocab else UNK
        ctx = tuple(w if w in self.vocab else UNK for w in context[max(0, len(context) - self.order + 1):])
        penalty = 0.0
        while ctx + (word,) not in self.logp:
            penalty += self.backoff.get(ctx, 0.0)
            ctx = ctx[1:]
        return penalty + self.logp[ctx + (word,)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, required=True, help="Kaldi text file (<utt-id> <words>)")
    parser.add_argument("--order", type=int, default=4, help="n-gram order (asr.sh's --ngram_num)")
    parser.add_argument("--out", type=Path, required=True, help="ARPA file to write")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    sentences = read_sentences(args.text)
    if not sentences:
        raise DataError(f"{args.text}: no words to estimate an n-gram LM from")
    write_arpa(estimate(sentences, args.order), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
