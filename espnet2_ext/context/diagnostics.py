"""Is the context module collapsing? Per-batch figures of the context vectors c_t, logged with
the training statistics (ESPnet averages them per epoch, writes them to ``train.log`` and plots
them under ``images/``), and the RESULTS.md section that reads them back.

A cosine loss against stop-gradient targets is also minimised by one constant vector for every
segment, so a falling ``loss_ctx`` alone says nothing. The figures, over the segments of a batch:

* ``ctx_cos_pos``: mean cosine between a segment's c_t and its neighbours' (the pairs the loss
  pulls together; for generative context, between c_t's text-space map and its text target);
* ``ctx_cos_other``: mean cosine between c_t of segments of *different* recordings (of any two
  distinct segments when the recordings are not known);
* ``ctx_spread``: per-dimension standard deviation across the batch, averaged over dimensions and
  divided by the vectors' root mean square: 0 when every segment gets the same vector;
* ``ctx_erank``: effective rank (Roy and Vetterli, 2007: exp of the entropy of the normalised
  singular values) of the centred vectors; at most the batch size minus one, 0 when all are equal.

A module is flagged as collapsed when its spread falls below ``COLLAPSED_SPREAD``; context it
carries would show as ``ctx_cos_pos`` well above ``ctx_cos_other``.
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from espnet2_ext.recipe.curves import read_epochs

COLLAPSED_SPREAD = 0.05
TRAINING_KEYS = ("loss_task", "loss_ctx", "ctx_cos_pos", "ctx_cos_other", "ctx_spread", "ctx_erank", "pad_share")


def spread(vectors: torch.Tensor) -> torch.Tensor:
    """Mean over dimensions of the std across rows, over the rows' root mean square."""
    if len(vectors) < 2:
        return vectors.new_zeros(())
    rms = vectors.pow(2).mean().sqrt().clamp(min=1e-12)
    return vectors.std(0, unbiased=False).mean() / rms


def effective_rank(vectors: torch.Tensor) -> torch.Tensor:
    """exp(entropy of the normalised singular values) of the row-centred ``vectors``."""
    centred = vectors - vectors.mean(0, keepdim=True)
    singular = torch.linalg.svdvals(centred)
    total = singular.sum()
    if total <= 1e-6 * max(1.0, vectors.abs().max().item()) * len(vectors):
        return vectors.new_zeros(())
    p = singular / total
    return torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum())


@torch.no_grad()
def context_diagnostics(
    anchors: torch.Tensor, bank: torch.Tensor, pairs: torch.Tensor, recordings: Optional[torch.Tensor] = None,
    pulled: Optional[torch.Tensor] = None,
) -> Dict[str, Optional[torch.Tensor]]:
    """The figures above for a batch's c_t ``anchors`` (N, d), the targets ``bank`` (M, d') with
    (anchor, bank) index ``pairs`` (P, 2), each anchor's recording (N,), and what the loss compares
    with the bank (N, d'; default the anchors); a figure that cannot be computed for this batch is
    None (ESPnet's reporter leaves it out of the mean)."""
    anchors = anchors.float()
    unit = F.normalize(anchors, dim=-1)
    figures: Dict[str, Optional[torch.Tensor]] = {
        "ctx_spread": spread(anchors), "ctx_erank": effective_rank(anchors), "ctx_cos_pos": None, "ctx_cos_other": None,
    }
    if len(pairs):
        targets = F.normalize(bank.float(), dim=-1)
        sources = unit if pulled is None else F.normalize(pulled.float(), dim=-1)
        figures["ctx_cos_pos"] = (sources[pairs[:, 0]] * targets[pairs[:, 1]]).sum(-1).mean()
    other = ~torch.eye(len(anchors), dtype=torch.bool, device=anchors.device)
    if recordings is not None:
        other &= recordings[:, None] != recordings[None, :]
    if other.any():
        figures["ctx_cos_other"] = (unit @ unit.T)[other].mean()
    return figures


def is_collapsed(figures: Dict[str, float]) -> bool:
    """Whether the (epoch-mean) figures show a collapsed context module."""
    return figures["ctx_spread"] < COLLAPSED_SPREAD


def padded_share(lengths: torch.Tensor) -> torch.Tensor:
    """Share of padding in a batch tensor of items with these ``lengths``."""
    return 1.0 - lengths.sum().float() / (len(lengths) * lengths.max()).clamp(min=1).float()


def report(experiments: Sequence[Path], names: Sequence[str], args: argparse.Namespace, out_dir: Path) -> List[str]:
    """RESULTS.md's "Context-aware training" section: the last epoch's training figures of every
    context-aware system (those whose log has ``ctx_spread``); nothing when there is none."""
    rows = []
    for exp, name in zip(experiments, names):
        epochs = read_epochs(exp)
        if not epochs:
            continue
        last = max(epochs)
        train = epochs[last].train
        if "ctx_spread" not in train:
            continue
        figures = {key: _float(train.get(key)) for key in TRAINING_KEYS}
        collapsed = "**yes**" if is_collapsed(figures) else "no"
        cells = "|".join(_cell(figures[k], k) for k in TRAINING_KEYS)
        rows.append(f"|{name}|{last}|{cells}|{collapsed}|")
    if not rows:
        return []
    header = "|".join(TRAINING_KEYS)
    return ["## Context-aware training", "",
            "Per context-aware system, the means over its last training epoch (espnet2_ext/context/"
            "diagnostics.py): task and auxiliary loss (loss_ctx unweighted), cosine of c_t to its "
            "neighbours' (pos) and to other recordings' segments (other), spread and effective rank "
            "of c_t over a batch, the share of padding in the speech batches; collapsed: spread "
            f"< {COLLAPSED_SPREAD}.", "",
            f"|experiment|epoch|{header}|collapsed|", "|---" * (len(TRAINING_KEYS) + 3) + "|", *rows, ""]


def _cell(value: float, key: str) -> str:
    if value != value:
        return "–"
    return f"{value:.2e}" if key == "loss_ctx" else f"{value:.3f}"  # a collapsed module's loss is ~1e-4


def _float(text: Optional[str]) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")
