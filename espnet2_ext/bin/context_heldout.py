"""The collapse figures of ``espnet2_ext/context/diagnostics.py`` on held-out segments: a trained
context-aware model's c_t over a whole data dir (dev, test), where no loss pulled them.

Training logs the figures per batch on training segments, whose recordings the model may have
learnt by heart (by voice, say); here every segment of the data dir is one set. ``ctx_cos_pos`` is
the cosine of c_t to its neighbours' c_t (offsets ``context_offsets``), or for generative context
(``context_source: text``) of c_t's text-space map to its target, the neighbours' transcripts'
embedding computed from the data dir's ``text`` as stage 10 does. ``ctx_cos_other``: c_t of
segments of different recordings; ``ctx_spread``: as in training, over the whole set::

    python -m espnet2_ext.bin.context_heldout exp/<name> dump/raw/test --checkpoint valid.loss.best.pth

prints JSON. Compare generative context's ``ctx_cos_pos`` with what the segment's own text
predicts of its target (``python -m espnet2_ext.context.text_probe ... --target``).
"""

import argparse
import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from espnet2_ext.bin.bn_recalibrate import padded, trained_model
from espnet2_ext.context.diagnostics import context_diagnostics
from espnet2_ext.context.losses import pairs_from_positions
from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.context.text_targets import text_targets
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map

FIGURES = ("ctx_cos_pos", "ctx_cos_other", "ctx_spread")


@torch.no_grad()
def context_vectors(model: torch.nn.Module, wav_scp: Path) -> Dict[str, torch.Tensor]:
    """c_t of every segment of ``wav_scp`` in eval mode, one segment at a time as decoding runs
    (padding would change the upstream's first normalisation)."""
    model.eval()
    vectors: Dict[str, torch.Tensor] = {}
    for utt, path in read_map(wav_scp).items():
        speech, lengths = padded([(utt, path)])
        vectors[utt] = model.context_vectors(speech, lengths)[0].float()
    return vectors


@torch.no_grad()
def heldout_figures(model: torch.nn.Module, data_dir: Path) -> Dict[str, float]:
    """``FIGURES`` of ``model``'s c_t over the segments of ``data_dir``."""
    if not hasattr(model, "context_module"):
        raise DataError(f"{type(model).__name__} has no context module (model: ctx_aware)")
    vectors = context_vectors(model, data_dir / "wav.scp")
    utts = sorted(vectors)
    nmap = NeighbourMap.from_file(data_dir / "utt2rec", valid=set(utts))
    missing = [u for u in utts if u not in nmap]
    if missing:
        raise DataError(f"{data_dir / 'utt2rec'}: no entry for '{missing[0]}' ({len(missing)} segments)")
    anchors = torch.stack([vectors[u] for u in utts])
    recording_ids = {recid: i for i, recid in enumerate(nmap.recordings())}
    positions = torch.tensor([[recording_ids[recid], index] for recid, index in map(nmap.position, utts)])
    bank, pairs, pulled = _what_is_pulled_towards(model, data_dir, nmap, utts, anchors, positions)
    figures = context_diagnostics(anchors, bank, pairs, positions[:, 0], pulled)
    out = {"segments": len(utts), "pairs": len(pairs)}
    out.update({key: round(float(figures[key]), 3) for key in FIGURES if figures[key] is not None})
    return out


def _what_is_pulled_towards(model: torch.nn.Module, data_dir: Path, nmap: NeighbourMap, utts: Sequence[str],
                            anchors: torch.Tensor, positions: torch.Tensor
                            ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """As in training: the vectors c_t is pulled towards, the (segment, target) pairs, and what
    is compared with them (None: c_t itself). ``positions``: (recording, index) of each of ``utts``."""
    if model.context_source == "text":
        targets = text_targets(read_map(data_dir / "text"), nmap, utts, model.context_offsets,
                               model.context_text_encoder)
        bank = torch.from_numpy(np.stack([targets[u] for u in utts]).astype(np.float32))
        rows = torch.nonzero(bank.abs().sum(-1) > 0).squeeze(1)  # zeros: no neighbour
        return bank, torch.stack([rows, rows], 1), model.context_text_projection(anchors)
    return anchors, pairs_from_positions(positions, model.context_offsets), None  # as mode b's batches


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp", type=Path, help="the experiment dir (its config.yaml)")
    parser.add_argument("data", type=Path, nargs="+", help="data dirs (wav.scp, utt2rec; text for generative)")
    parser.add_argument("--checkpoint", default="valid.loss.best.pth", help="model file in the exp dir")
    parser.add_argument("--task", choices=("asr", "cls"), default="asr")
    args = parser.parse_args(argv)
    model = trained_model(args.exp, args.checkpoint, args.task)
    results = {str(d): heldout_figures(model, d) for d in args.data}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
