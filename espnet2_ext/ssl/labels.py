"""K-means pseudo-labels for HuBERT pretraining, one label per 20 ms upstream frame.

Iteration 1 clusters MFCCs (13 cepstra + deltas + delta-deltas, 25 ms windows every 20 ms, so
a wave of N samples has ``(N - 400) // 320 + 1`` frames: exactly the CNN's output length);
iteration 2 clusters one transformer layer of the iteration-1 model. Clustering is
scikit-learn's MiniBatchKMeans, as in ESPnet's ``learn_kmeans.py``.

    python -m espnet2_ext.ssl.labels fit --feature mfcc --n_clusters 100 dump/raw/train/wav.scp km.pkl
    python -m espnet2_ext.ssl.labels apply --feature mfcc km.pkl dump/raw/train/wav.scp text.km
    python -m espnet2_ext.ssl.labels tokens --n_clusters 100 tokens.txt
"""

import argparse
import logging
import pickle
import random
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torchaudio
from espnet2.fileio.sound_scp import SoundScpReader
from sklearn.cluster import MiniBatchKMeans

from espnet2_ext.audio import RECEPTIVE_FIELD, SAMPLE_RATE
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.upstream.checkpoints import load_upstream
from espnet2_ext.upstream.layers import layer_outputs

_LOG = logging.getLogger(__name__)
Featurizer = Callable[[np.ndarray], np.ndarray]


def mfcc_features(wave: np.ndarray) -> np.ndarray:
    """(frames, 39) MFCC + deltas + delta-deltas, one frame per 20 ms (CNN frame grid)."""
    signal = torch.as_tensor(wave, dtype=torch.float32)[None] * 32768  # Kaldi scale
    mfcc = torchaudio.compliance.kaldi.mfcc(
        signal, sample_frequency=SAMPLE_RATE, frame_length=25.0, frame_shift=20.0,
        num_ceps=13, dither=0.0, snip_edges=True,
    ).T  # (13, frames)
    delta = torchaudio.functional.compute_deltas(mfcc)
    delta2 = torchaudio.functional.compute_deltas(delta)
    return torch.cat([mfcc, delta, delta2]).T.numpy()


def upstream_features(weights: str, layer: int) -> Featurizer:
    """Featurizer returning the output of transformer ``layer`` (1-based) of an upstream."""
    model = load_upstream(weights).eval()

    @torch.no_grad()
    def featurize(wave: np.ndarray) -> np.ndarray:
        signal = torch.as_tensor(wave, dtype=torch.float32)[None]
        lengths = torch.tensor([signal.size(1)])
        feats, lengths = model.feature_extractor(signal, lengths)
        return layer_outputs(model, feats, lengths, layer)[-1][0].numpy()

    return featurize


def make_featurizer(feature: str) -> Featurizer:
    """``mfcc`` or ``<upstream weights>:<layer>`` (e.g. exp/hubert_it1/upstream.pth:3)."""
    if feature == "mfcc":
        return mfcc_features
    weights, _, layer = feature.rpartition(":")
    if not weights or not layer.isdigit():
        raise ValueError(f"--feature must be 'mfcc' or '<weights>:<layer>', got '{feature}'")
    return upstream_features(weights, int(layer))


def read_waves(scp: Path) -> Iterator[Tuple[str, np.ndarray]]:
    """(uttid, mono float wave) for each line of a wav.scp of 16 kHz audio."""
    reader = SoundScpReader(str(scp), dtype=np.float32)
    for lineno, uttid in enumerate(reader.keys(), start=1):
        rate, wave = reader[uttid]
        if rate != SAMPLE_RATE or wave.ndim != 1:
            raise at(scp, lineno, f"'{uttid}' must be mono {SAMPLE_RATE} Hz, got {rate} Hz, shape {wave.shape}")
        yield uttid, wave


def cnn_frames(num_samples: int) -> int:
    """Output length of the HuBERT/wav2vec 2.0 CNN (400-sample receptive field, 320 stride)."""
    return max(0, (num_samples - RECEPTIVE_FIELD) // 320 + 1)


def fit(scp: Path, featurizer: Featurizer, n_clusters: int, portion: float, seed: int) -> MiniBatchKMeans:
    """Fit k-means on the frames of a random ``portion`` of the utterances."""
    rng = random.Random(seed)
    chunks = [featurizer(wave) for _, wave in read_waves(scp) if rng.random() < portion]
    nonempty = [c for c in chunks if len(c)]
    frames = np.concatenate(nonempty) if nonempty else np.empty((0, 0))
    if len(frames) < n_clusters:
        raise DataError(f"{scp}: {len(frames)} frames are too few for {n_clusters} clusters")
    _LOG.info("k-means: %d clusters on %d frames of %d utterances", n_clusters, len(frames), len(chunks))
    kmeans = MiniBatchKMeans(n_clusters=n_clusters, batch_size=10000, n_init=3, random_state=seed)
    kmeans.fit(frames)
    _LOG.info("k-means inertia per frame: %.3f", kmeans.inertia_ / len(frames))
    return kmeans


def apply(scp: Path, featurizer: Featurizer, kmeans: MiniBatchKMeans, out: Path) -> int:
    """Write ``uttid l1 l2 ...`` (one label per CNN frame) for every utterance; returns the count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(out, "w", encoding="utf-8") as f:
        for uttid, wave in read_waves(scp):
            feats = featurizer(wave)
            if len(feats) != cnn_frames(len(wave)) or not len(feats):
                raise DataError(f"{scp}: '{uttid}' gives {len(feats)} feature frames for "
                                f"{cnn_frames(len(wave))} CNN frames (too short?)")
            f.write(uttid + " " + " ".join(map(str, kmeans.predict(feats))) + "\n")
            count += 1
    return count


def write_tokens(n_clusters: int, out: Path) -> None:
    """Token list whose index equals the cluster id (ESPnet's hubert task), then <unk>."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{i}\n" for i in range(n_clusters)) + "<unk>\n", encoding="utf-8")


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_fit = sub.add_parser("fit", help="fit k-means on a wav.scp")
    p_fit.add_argument("--feature", default="mfcc", help="mfcc or <upstream weights>:<layer>")
    p_fit.add_argument("--n_clusters", type=int, default=100)
    p_fit.add_argument("--portion", type=float, default=1.0, help="fraction of utterances used")
    p_fit.add_argument("--seed", type=int, default=0)
    p_fit.add_argument("scp", type=Path)
    p_fit.add_argument("model", type=Path, help="where the fitted k-means goes (pickle)")
    p_apply = sub.add_parser("apply", help="label every utterance of a wav.scp")
    p_apply.add_argument("--feature", default="mfcc")
    p_apply.add_argument("model", type=Path)
    p_apply.add_argument("scp", type=Path)
    p_apply.add_argument("out", type=Path)
    p_tokens = sub.add_parser("tokens", help="write the token list of n clusters")
    p_tokens.add_argument("--n_clusters", type=int, default=100)
    p_tokens.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "tokens":
        write_tokens(args.n_clusters, args.out)
        return 0
    featurizer = make_featurizer(args.feature)
    if args.command == "fit":
        kmeans = fit(args.scp, featurizer, args.n_clusters, args.portion, args.seed)
        args.model.parent.mkdir(parents=True, exist_ok=True)
        with open(args.model, "wb") as f:
            pickle.dump(kmeans, f)
        return 0
    with open(args.model, "rb") as f:
        kmeans = pickle.load(f)
    _LOG.info("%s: %d utterances labelled", args.out, apply(args.scp, featurizer, kmeans, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
