"""Auxiliary context loss: pull a segment's context vector towards its neighbours' vectors.

The paper says only that the loss "encourages this context embedding vector to be similar to
context vectors of surrounding segments" (its abstract); the three forms below are reconstruction
options (espnet2_ext/context/README.md, § Verified vs inferred). Inputs are anchors (the
segments' vectors c_t), a bank of target vectors and the (anchor, target) pairs that are
neighbours. The loss is averaged over each anchor's pairs, then over the anchors that have at
least one pair: a segment without a neighbour (recording edge, filtered neighbour) is left out of
the average, and a batch without any pair gives exactly 0.
"""

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

LOSSES = ("cosine", "infonce", "l2")


def context_loss(
    kind: str,
    anchors: torch.Tensor,
    bank: torch.Tensor,
    pairs: torch.Tensor,
    temperature: float = 0.1,
    exclude: Optional[torch.Tensor] = None,
    stop_gradient: bool = True,
) -> torch.Tensor:
    """Mean loss of the (anchor, bank) index ``pairs`` (P, 2) for anchors (N, d) and bank (M, d).

    ``cosine``: 1 - cos(c_t, sg(c_j)). ``l2``: ||c_t - sg(c_j)||^2 / d (mean over dimensions, so
    the scale does not grow with d). ``infonce``: -log of the softmax, at the positive, of
    cos(c_t, sg(c_m)) / temperature over the bank; the anchor's other positives and ``exclude``
    (N, M) (e.g. the anchor itself when the bank is the batch) are not in the denominator.
    ``stop_gradient``: detach the bank (sg above).
    """
    if kind not in LOSSES:
        raise ValueError(f"context loss must be one of {LOSSES}: {kind}")
    if pairs.numel() == 0:
        return anchors.new_zeros(())
    targets = bank.detach() if stop_gradient else bank
    a, j = pairs[:, 0], pairs[:, 1]
    if kind == "cosine":
        per_pair = 1.0 - F.cosine_similarity(anchors[a], targets[j], dim=-1)
    elif kind == "l2":
        per_pair = (anchors[a] - targets[j]).pow(2).mean(-1)
    else:
        per_pair = _infonce(anchors, targets, pairs, temperature, exclude)
    counts = torch.bincount(a, minlength=anchors.size(0)).to(per_pair.dtype)
    return (per_pair / counts[a]).sum() / (counts > 0).sum()


def _infonce(
    anchors: torch.Tensor, bank: torch.Tensor, pairs: torch.Tensor, temperature: float,
    exclude: Optional[torch.Tensor],
) -> torch.Tensor:
    a, j = pairs[:, 0], pairs[:, 1]
    logits = F.normalize(anchors, dim=-1) @ F.normalize(bank, dim=-1).T / temperature  # (N, M)
    hidden = torch.zeros_like(logits, dtype=torch.bool) if exclude is None else exclude.clone()
    hidden[a, j] = True  # every positive of the anchor ...
    hidden = hidden[a]  # (P, M)
    rows = torch.arange(len(pairs), device=pairs.device)
    hidden[rows, j] = False  # ... except the pair's own
    log_probs = torch.log_softmax(logits[a].masked_fill(hidden, float("-inf")), dim=-1)
    return -log_probs[rows, j]


def copies_of_anchor_or_positive(anchor_ids: torch.Tensor, bank_ids: torch.Tensor,
                                 pairs: torch.Tensor) -> torch.Tensor:
    """(N, M) True where bank entry m is the same segment as anchor n or as one of n's positives.

    ``anchor_ids`` (N, 2) and ``bank_ids`` (M, 2) are (recording, index) rows. When neighbours come
    as extra inputs (mode a) and two segments of one recording share a batch, the bank holds the
    anchor's own audio (as the other's neighbour) or a second copy of its positive: InfoNCE must
    not count either as a negative (``context_loss(exclude=...)``).
    """
    own = (bank_ids[None, :, :] == anchor_ids[:, None, :]).all(-1)
    same_segment = (bank_ids[:, None, :] == bank_ids[None, :, :]).all(-1).float()  # (M, M)
    positive = torch.zeros_like(own, dtype=torch.float)
    positive[pairs[:, 0], pairs[:, 1]] = 1.0
    return own | (positive @ same_segment > 0)


def pairs_from_positions(positions: torch.Tensor, offsets: Sequence[int]) -> torch.Tensor:
    """(anchor, neighbour) index pairs within a batch from (B, 2) (recording, index) rows."""
    same = positions[:, None, 0] == positions[None, :, 0]
    step = positions[None, :, 1] - positions[:, None, 1]  # [i, j]: index of j minus index of i
    wanted = torch.tensor(list(offsets), device=positions.device)
    return torch.nonzero(same & torch.isin(step, wanted))
