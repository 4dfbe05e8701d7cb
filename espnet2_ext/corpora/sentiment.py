"""Sentence sentiment that is weakly predictable from the sentence but strongly from its context.

Design (per recording of n sentences):

* A latent *mood* ``m_t`` follows a slowly drifting, mean-reverting random walk (AR(1)):
  ``m_0 ~ N(0, 1)``, ``m_t = rho * m_{t-1} + sqrt(1 - rho^2) * N(0, 1)`` with ``rho = 0.96``, so
  neighbouring sentences share nearly the same mood.
* The label is a thresholded, slightly noisy function of the mood:
  ``v = m_t + N(0, 0.2^2)``; Negative if ``v < -0.45``, Positive if ``v > 0.45``, else Neutral
  (roughly a third each).
* The only sentiment-bearing wording is one evaluative cue word (``data/cues.txt``), present with
  probability 0.7; its polarity equals the label with probability 0.45 and is otherwise drawn
  uniformly from the three polarities (so it agrees with the label 63% of the time).

Hence a sentence's own wording predicts its label only weakly, while the labels or cue words of
neighbouring sentences, which share the mood, predict it much better. How much is measured, not
restated here: ``python -m espnet2_ext.corpora.sentiment data/train data/dev data/test`` prints, as
JSON, the accuracy of the majority class and of each predictor of :data:`PREDICTORS` (own cue
word, own cue plus the neighbours' cues, neighbours' labels, neighbours' labels plus own cue) on
generated data dirs (:func:`measure_predictability`).
"""

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

from espnet2_ext.corpora.sentences import POLARITIES, SentenceGenerator
from espnet2_ext.errors import cli_entry
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.context.neighbours import NeighbourMap

# (label, polarity of the sentence's cue word or None)
Labelled = Tuple[str, Optional[str]]


@dataclass(frozen=True)
class SentimentModel:
    """Parameters of the latent-mood model described in the module docstring."""

    rho: float = 0.96
    label_noise: float = 0.2
    threshold: float = 0.45
    cue_prob: float = 0.7
    cue_fidelity: float = 0.45

    def sample(self, rng: random.Random, n: int) -> List[Labelled]:
        """Labels and cue polarities for the ``n`` consecutive sentences of one recording."""
        out: List[Labelled] = []
        mood = rng.gauss(0.0, 1.0)
        for t in range(n):
            if t:
                mood = self.rho * mood + math.sqrt(1.0 - self.rho**2) * rng.gauss(0.0, 1.0)
            value = mood + rng.gauss(0.0, self.label_noise)
            label = "Negative" if value < -self.threshold else "Positive" if value > self.threshold else "Neutral"
            cue = None
            if rng.random() < self.cue_prob:
                cue = label if rng.random() < self.cue_fidelity else rng.choice(POLARITIES)
            out.append((label, cue))
        return out


def _at(recording: Sequence[Labelled], t: int, what: int) -> Optional[str]:
    """Label (what=0) or cue (what=1) of sentence ``t``; None beyond the recording's edges."""
    return recording[t][what] if 0 <= t < len(recording) else None


def _dominant_cue(recording: Sequence[Labelled], t: int, offsets: Sequence[int]) -> Optional[str]:
    """Most frequent cue polarity at ``t + offsets``: None without cues, 'tie' when undecided."""
    counts = Counter(_at(recording, t + offset, 1) for offset in offsets)
    counts.pop(None, None)
    if not counts:
        return None
    top = [p for p in POLARITIES if counts[p] == max(counts.values())]
    return top[0] if len(top) == 1 else "tie"


Feature = Callable[[Sequence[Labelled], int], Hashable]
PREDICTORS: Dict[str, Feature] = {
    "own_cue": lambda rec, t: _at(rec, t, 1),
    "own_and_neighbour_cues": lambda rec, t: (_at(rec, t, 1), _dominant_cue(rec, t, (-2, -1, 1, 2))),
    "neighbour_labels": lambda rec, t: (_at(rec, t - 1, 0), _at(rec, t + 1, 0)),
    "neighbour_labels_and_own_cue": lambda rec, t: (_at(rec, t - 1, 0), _at(rec, t + 1, 0), _at(rec, t, 1)),
}


def _majority(labels: Iterable[str]) -> str:
    counts = Counter(labels)
    return max(POLARITIES, key=lambda p: counts[p])  # ties go to the first polarity


def measure_predictability(recordings: Sequence[Sequence[Labelled]]) -> Dict[str, float]:
    """Test accuracy of predicting each label from the features in :data:`PREDICTORS`.

    Each predictor is the best rule for its discrete feature: the majority training label of each
    feature value (the overall majority for values not seen in training). It is fitted on the
    even-numbered recordings and scored on the odd ones; ``majority`` always predicts the most
    frequent training label.
    """
    train, test = recordings[0::2], recordings[1::2]
    if not train or not test:
        raise ValueError("need at least two recordings")
    fallback = _majority(label for rec in train for label, _ in rec)
    test_labels = [label for rec in test for label, _ in rec]
    scores = {"majority": test_labels.count(fallback) / len(test_labels)}
    for name, feature in PREDICTORS.items():
        seen: Dict[Hashable, List[str]] = {}
        for rec in train:
            for t, (label, _) in enumerate(rec):
                seen.setdefault(feature(rec, t), []).append(label)
        rule = {value: _majority(labels) for value, labels in seen.items()}
        predicted = [rule.get(feature(rec, t), fallback) for rec in test for t in range(len(rec))]
        scores[name] = sum(p == y for p, y in zip(predicted, test_labels)) / len(test_labels)
    return {name: round(value, 4) for name, value in scores.items()}


def read_data_dir(data_dir: Path, cue_phrases: Dict[Tuple[str, ...], str]) -> List[List[Labelled]]:
    """Recordings of ``(label, cue polarity found in the text)`` from ``text``, ``text.sentiment``, ``utt2rec``."""
    texts = read_map(data_dir / "text")
    labels = read_map(data_dir / "text.sentiment")
    recordings = NeighbourMap.from_file(data_dir / "utt2rec", valid=set(texts) & set(labels)).recordings()
    return [[(labels[u], find_cue(texts[u].split(), cue_phrases)) for u in utts] for utts in recordings.values()]


def find_cue(words: Sequence[str], cue_phrases: Dict[Tuple[str, ...], str]) -> Optional[str]:
    """Polarity of the first cue phrase occurring in ``words``, or None."""
    for start in range(len(words)):
        for phrase, polarity in cue_phrases.items():
            if tuple(words[start:start + len(phrase)]) == phrase:
                return polarity
    return None


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure how well a sentence's sentiment label is predicted from its own cue word "
                    "versus its neighbours, on generated mini_slue data dirs (prints JSON)."
    )
    parser.add_argument("data_dirs", nargs="+", type=Path, help="data dirs with text, text.sentiment, utt2rec")
    args = parser.parse_args(argv)
    cue_phrases = SentenceGenerator().cue_phrases()
    recordings = [rec for d in args.data_dirs for rec in read_data_dir(d, cue_phrases)]
    print(json.dumps(measure_predictability(recordings), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
