"""How much of a segment-level label its own text and its neighbours' text carry, as the frozen
sentence encoder of generative context sees them: a linear probe (logistic regression) trained on
the sentence embeddings of one data dir and scored on others.
``--encoder words`` probes binary bags of words instead (the training dir's vocabulary): what a
text classifier learns from the training labels with perfect transcripts: where the labels live
in the words alone (as in mini_slue), what a single-segment speech model can hope to reach.
``--vocabulary FILE`` keeps only the words and phrases listed there (one per line), e.g. the
corpus's sentiment cue words: what a classifier that has found those words learns from the labels.

If the neighbours' embeddings (generative context's targets, ``text_targets.py``) predict a label
no better than the majority class, distilling them into c_t cannot help that task, whatever the
model does. Example (mini_slue sentiment, after stage 4)::

    python -m espnet2_ext.context.text_probe dump/raw/train dump/raw/dev dump/raw/test --label text.sentiment

prints JSON: per scored dir, the majority-class accuracy and the probe accuracies and macro-F1
on the own and the neighbours' embeddings, for each regularisation strength C.

``--target`` asks instead what generative context can learn at all: its module sees one segment
and is pulled towards the neighbours' mean embedding (its target), so what it can carry to unseen
recordings is what the segment's own text predicts of that target. Printed per scored dir: the
mean cosine to the targets of the training targets' mean (a constant c_t reaches that), of the own
embedding, and of the own embedding shrunk towards the mean, ``mean + shrink * (own - own mean)``,
with the shrink (0 to 1) that scores best on the training dir. Where the shrunk own embedding is
no closer than the constant, the segment's own (perfect) transcript says nothing of its target.
"""

import argparse
import json
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.context.text_targets import (
    DEFAULT_ENCODER, bag_of_words, embed, neighbour_means, read_vocabulary,
)
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map

Features = Tuple[np.ndarray, np.ndarray, np.ndarray]  # own, neighbours', labels
Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, D) float32
WORDS = "words"  # the --encoder value for bags of words
SHRINKS = tuple(i / 20 for i in range(21))  # --target: the shrinks towards the mean tried


def embedder(encoder: str, train_texts: Sequence[str], vocabulary: Optional[Sequence[str]] = None) -> Embedder:
    """The text ``encoder`` (``text_targets.embed``), or for ``words`` binary bags of the training
    texts' words (of the ``vocabulary`` words and phrases only, when given)."""
    if encoder != WORDS:
        if vocabulary is not None:
            raise DataError(f"--vocabulary needs --encoder {WORDS}")
        return lambda texts: embed(texts, encoder)
    if vocabulary is None:
        vocabulary = sorted({word for text in train_texts for word in text.split()})
    return lambda texts: bag_of_words(texts, vocabulary)


def features(data_dir: Path, label: Optional[str], offsets: Sequence[int], encode: Embedder) -> Features:
    """Own and neighbours' text embeddings and the labels of a data dir's utterances (every
    transcribed utterance and no labels when ``label`` is None)."""
    texts = read_map(data_dir / "text")
    labels = read_map(data_dir / label) if label is not None else dict.fromkeys(texts, "")
    utts = sorted(labels)
    missing = [u for u in utts if u not in texts]
    if missing:
        raise DataError(f"{data_dir / 'text'}: no transcript for '{missing[0]}' ({len(missing)} utterances)")
    nmap = NeighbourMap.from_file(data_dir / "utt2rec", valid=set(utts))
    own = dict(zip(texts, encode(list(texts.values()))))  # embedded once, for both
    neighbours = neighbour_means(own, nmap, utts, offsets)
    return (np.stack([own[u] for u in utts]), np.stack([neighbours[u] for u in utts]),
            np.array([labels[u] for u in utts]))


def probe(train: Features, scored: Features, strengths: Sequence[float]) -> Dict[str, float]:
    """Majority-class accuracy, and the accuracies and macro-F1 on ``scored`` of probes trained on
    ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    majority = max(np.mean(scored[2] == c) for c in set(train[2]))
    out = {"majority": round(float(majority), 3)}
    for name, column in (("own", 0), ("neighbours", 1)):
        for strength in strengths:
            model = LogisticRegression(max_iter=5000, C=strength).fit(train[column], train[2])
            predicted = model.predict(scored[column])
            out[f"{name}_C{strength:g}"] = round(float(np.mean(predicted == scored[2])), 3)
            out[f"{name}_C{strength:g}_macro_f1"] = round(float(f1_score(scored[2], predicted, average="macro")), 3)
    return out


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _with_targets(data: Features) -> Tuple[np.ndarray, np.ndarray]:
    """Unit own embeddings and targets of the segments that have neighbours."""
    has = np.linalg.norm(data[1], axis=1) > 0
    return _unit(data[0][has]), _unit(data[1][has])


def target_fit(train: Features, scored: Features, shrinks: Sequence[float] = SHRINKS) -> Dict[str, float]:
    """Mean cosine to ``scored``'s targets (its neighbours' embeddings; segments without
    neighbours left out) of the training targets' mean, the own embedding, and the own embedding
    shrunk towards the mean (the shrink that fits ``train`` best)."""
    (own, targets), (scored_own, scored_targets) = _with_targets(train), _with_targets(scored)
    mean_target, mean_own = targets.mean(0), own.mean(0)

    def cosine(shrink: float, own_: np.ndarray, targets_: np.ndarray) -> float:
        return float(np.mean(np.sum(_unit(mean_target + shrink * (own_ - mean_own)) * targets_, axis=1)))

    best = max(shrinks, key=lambda shrink: cosine(shrink, own, targets))
    return {"segments": int(len(scored_own)), "constant": round(cosine(0.0, scored_own, scored_targets), 3),
            "own": round(float(np.mean(np.sum(scored_own * scored_targets, axis=1))), 3),
            "own_shrunk": round(cosine(best, scored_own, scored_targets), 3), "shrink": round(float(best), 2)}


def _require_targets(data_dir: Path, data: Features, offsets: Sequence[int]) -> None:
    if not np.linalg.norm(data[1], axis=1).any():
        raise DataError(f"{data_dir}: no segment has a neighbour at offsets {list(offsets)} "
                        "whose text embeds to a non-zero vector")


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", type=Path, help="data dir the probes train on (text, utt2rec, the label file)")
    parser.add_argument("scored", type=Path, nargs="+", help="data dirs they are scored on")
    parser.add_argument("--label", default="text.sentiment", help="the label file in each data dir")
    parser.add_argument("--target", action="store_true",
                        help="no label: how close a segment's own text comes to its generative target")
    parser.add_argument("--offsets", type=int, nargs="+", default=[-1, 1], help="the neighbours (context_offsets)")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER,
                        help=f"context_text_encoder, or '{WORDS}' for bags of words")
    parser.add_argument("--vocabulary", type=Path,
                        help=f"with --encoder {WORDS}: only these words and phrases (one per line)")
    parser.add_argument("--C", type=float, nargs="+", default=[0.1, 1.0, 10.0], help="regularisation strengths")
    args = parser.parse_args(argv)
    vocabulary = None if args.vocabulary is None else read_vocabulary(args.vocabulary)
    encode = embedder(args.encoder, list(read_map(args.train / "text").values()), vocabulary)
    label = None if args.target else args.label
    train = features(args.train, label, args.offsets, encode)
    if args.target:
        _require_targets(args.train, train, args.offsets)
    results: Dict[str, Dict[str, float]] = {}
    for data_dir in args.scored:
        scored = features(data_dir, label, args.offsets, encode)
        if args.target:
            _require_targets(data_dir, scored, args.offsets)
            results[str(data_dir)] = target_fit(train, scored)
        else:
            results[str(data_dir)] = probe(train, scored, args.C)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
