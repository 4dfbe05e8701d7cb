"""Isotropy of an upstream's utterance vectors, before and after rewiring.

    python -m espnet2_ext.rewire.isotropy --upstream exp/rewire_x/upstream.pth \
        --data_dir dump/raw/test --out exp/rewire_x/eval/isotropy_tuned.json

Two measures, on the rewiring pooling (each layer's output averaged over time, then the layers
averaged uniformly; :meth:`RewireModel.utterance_vectors`) and on the last layer alone:

- ``I(W)`` of Mu & Viswanath (2018): ``min_c Z(c) / max_c Z(c)`` with ``Z(c) = sum_i exp(c . w_i)``
  over the eigenvectors ``c`` of ``W^T W``, on L2-normalised rows ``w_i`` (the measure depends on
  scale: raw speech features push it to 0). Both signs of each eigenvector are taken, so the result
  does not depend on the sign an eigensolver returns. Computed in the log domain (logsumexp).
  1 is isotropic.
- the average cosine similarity of distinct pairs (Ethayarajh 2019): 0 for directions spread
  evenly, 1 for a single direction.
"""

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import replaced_atomically
from espnet2_ext.recipe.datadir import read_table
from espnet2_ext.recipe.format_audio import load_table_audio
from espnet2_ext.upstream.features import layer_features, load_frontend


def isotropy(vectors: torch.Tensor) -> float:
    """Mu & Viswanath's I(W) of the L2-normalised rows of ``vectors`` (N, D)."""
    w = torch.nn.functional.normalize(vectors.double(), dim=-1)
    _, eigenvectors = torch.linalg.eigh(w.T @ w)
    directions = torch.cat([eigenvectors, -eigenvectors], dim=1)  # (D, 2D)
    log_z = torch.logsumexp(w @ directions, dim=0)
    return float(torch.exp(log_z.min() - log_z.max()))


def average_cosine(vectors: torch.Tensor) -> float:
    """Mean cosine similarity over the distinct pairs of rows."""
    w = torch.nn.functional.normalize(vectors.double(), dim=-1)
    n = len(w)
    if n < 2:
        raise ValueError("the average cosine needs at least 2 vectors")
    similarities = w @ w.T
    return float((similarities.sum() - similarities.diagonal().sum()) / (n * (n - 1)))


def utterance_vectors(upstream: str, data_dir: Path) -> Dict[str, torch.Tensor]:
    """``pooled`` (the rewiring pooling) and ``last`` (the last layer's time average) vectors of
    every utterance of a formatted data dir, in eval mode."""
    wav_scp = read_table(data_dir / "wav.scp")
    frontend = load_frontend(upstream)
    pooled, last = [], []
    for utt in wav_scp.values:
        samples, rate = load_table_audio(wav_scp, utt)
        if rate != SAMPLE_RATE:
            raise wav_scp.error(utt, f"{rate} Hz audio: the upstreams take {SAMPLE_RATE} Hz (format the data dir first)")
        layers = [torch.from_numpy(layer).mean(0) for layer in layer_features(frontend, samples.mean(1))]
        if not layers or not all(torch.isfinite(layer).all() for layer in layers):
            raise wav_scp.error(utt, "no upstream frame (audio too short?) or non-finite features")
        pooled.append(torch.stack(layers).mean(0))
        last.append(layers[-1])
    if len(pooled) < 2:
        raise DataError(f"{data_dir / 'wav.scp'}: isotropy needs at least 2 utterances")
    return {"pooled": torch.stack(pooled), "last": torch.stack(last)}


def measure(upstream: str, data_dir: Path) -> Dict[str, object]:
    vectors = utterance_vectors(upstream, data_dir)
    return {"upstream": upstream, "data_dir": str(data_dir), "num_utterances": len(vectors["pooled"]),
            **{name: {"isotropy": isotropy(v), "average_cosine": average_cosine(v)} for name, v in vectors.items()}}


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="what frontend_conf.weights loads")
    parser.add_argument("--data_dir", type=Path, required=True, help="formatted data dir (16 kHz wav.scp)")
    parser.add_argument("--out", type=Path, required=True, help="JSON result")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    result = measure(args.upstream, args.data_dir)
    with replaced_atomically(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    logging.info("%s: pooled I(W) %.4f, average cosine %.4f", args.out, result["pooled"]["isotropy"],
                 result["pooled"]["average_cosine"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
