"""Batched soft-DTW, its normalised divergence and SCORE's loss, in pure torch.

Soft-DTW is Cuturi & Blondel (ICML 2017); the divergence is Blondel, Mensch & Vert (AISTATS
2021). Written by hand because no maintained PyPI package gives batched soft-DTW with per-item
lengths and autograd in pure torch: pysdtw and tslearn need numba, and tslearn has no per-item
lengths.

:class:`_SoftDTW` takes the cost matrix D (B, Tx, Ty); its forward fills R and its backward the
E matrix of Cuturi & Blondel (Algorithm 2; also in Maghoumi's pytorch-softdtw-cuda, MIT), which
is dR[Tx_b, Ty_b] / dD. Both run one vectorised step per anti-diagonal (the cells of one
anti-diagonal depend only on earlier ones): Tx + Ty - 1 Python steps. Torch autograd carries the
gradient from D on to the features. R, D and E are held with a border row and column on each
side, (B, Tx+2, Ty+2), flattened per item: cell (i, j) sits at i*W + j (W = Ty+2), so the
anti-diagonal i + j = k is a slice of step W-1 and its neighbours are the same slice shifted.
"""

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def _region(x_lengths: torch.Tensor, y_lengths: torch.Tensor, tx: int, ty: int) -> torch.Tensor:
    """(B, tx, ty) True on each item's valid cells (i < Tx_b, j < Ty_b)."""
    rows = torch.arange(tx, device=x_lengths.device)[None, :, None]
    cols = torch.arange(ty, device=y_lengths.device)[None, None, :]
    return (rows < x_lengths[:, None, None]) & (cols < y_lengths[:, None, None])


def _diagonal(k: int, tx: int, ty: int, shift: int = 0) -> slice:
    """Flat slice of the cells (i, k - i), 1 <= i <= tx, 1 <= k - i <= ty, moved by ``shift``."""
    step = ty + 1
    lo, hi = max(1, k - ty), min(tx, k - 1)
    return slice(lo * step + k + shift, hi * step + k + 1 + shift, step)


class _SoftDTW(torch.autograd.Function):
    """R[b, Tx_b, Ty_b] from the cost matrix (B, Tx, Ty); gradient with respect to it only."""

    @staticmethod
    def forward(ctx, cost: torch.Tensor, x_lengths: torch.Tensor, y_lengths: torch.Tensor,
                gamma: float) -> torch.Tensor:
        bsz, tx, ty = cost.shape
        w = ty + 2
        region = _region(x_lengths, y_lengths, tx, ty)
        # Cost 0 outside an item's region: whatever the padding holds, R stays finite there, and
        # those cells never reach R[Tx_b, Ty_b].
        d = F.pad(cost.masked_fill(~region, 0.0), (1, 1, 1, 1))
        r = torch.full_like(d, math.inf)
        r[:, 0, 0] = 0.0
        rf, df = r.view(bsz, -1), d.view(bsz, -1)
        for k in range(2, tx + ty + 1):
            prev = torch.stack([rf[:, _diagonal(k, tx, ty, s)] for s in (-w - 1, -w, -1)])
            # Every cell with i, j >= 1 has a finite predecessor, so logsumexp never sees only -inf.
            rf[:, _diagonal(k, tx, ty)] = df[:, _diagonal(k, tx, ty)] - gamma * torch.logsumexp(-prev / gamma, 0)
        ctx.save_for_backward(r, d, region, x_lengths, y_lengths)
        ctx.gamma = gamma
        return r[torch.arange(bsz, device=r.device), x_lengths, y_lengths]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        r, d, region, x_lengths, y_lengths = ctx.saved_tensors
        bsz, tx, ty = region.shape
        w = ty + 2
        batch = torch.arange(bsz, device=r.device)
        inside = torch.zeros_like(r, dtype=torch.bool)
        inside[:, 1:-1, 1:-1] = region
        # R = -inf outside the region makes every ratio exp((R[next] - R[here] - D[next]) / gamma)
        # towards it 0; the cell after the item's end gets R[Tx_b, Ty_b], D = 0 and E = 1, which
        # starts the recursion there.
        r = r.masked_fill(~inside, -math.inf)
        r[batch, x_lengths + 1, y_lengths + 1] = r[batch, x_lengths, y_lengths]
        e = torch.zeros_like(r)
        e[batch, x_lengths + 1, y_lengths + 1] = 1.0
        rf, ef, vf = r.view(bsz, -1), e.view(bsz, -1), inside.view(bsz, -1)
        next_rd = (r - d).view(bsz, -1)  # R[next] - D[next], the same for all three neighbours
        for k in range(tx + ty, 1, -1):
            here = _diagonal(k, tx, ty)
            nxt_rd = torch.stack([next_rd[:, _diagonal(k, tx, ty, s)] for s in (w, 1, w + 1)])
            nxt_e = torch.stack([ef[:, _diagonal(k, tx, ty, s)] for s in (w, 1, w + 1)])
            total = (nxt_e * torch.exp((nxt_rd - rf[:, here]) / ctx.gamma)).sum(0)
            # Cells outside the region (-inf - -inf = NaN there) keep E = 0, or 1 at an end cell.
            ef[:, here] = torch.where(vf[:, here], total, ef[:, here])
        grad_cost = torch.where(region, e[:, 1:-1, 1:-1], 0.0) * grad[:, None, None]
        return grad_cost, None, None, None


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B, Tx, Ty) frame costs ((x_i - y_j)**2).sum(-1), as |x_i|^2 + |y_j|^2 - 2 x_i.y_j so that
    no (B, Tx, Ty, D) tensor is built (250 x 300 x 256 frames would take 77 MB per item)."""
    xx = x.pow(2).sum(-1)[:, :, None]
    yy = y.pow(2).sum(-1)[:, None, :]
    return xx + yy - 2.0 * torch.bmm(x, y.transpose(1, 2))


def _soft_dtw64(x: torch.Tensor, y: torch.Tensor, x_lengths: torch.Tensor, y_lengths: torch.Tensor,
                gamma: float) -> torch.Tensor:
    """soft_dtw in float64: the cost matrix in the input dtype (at least float32), the programme in
    float64. In float32, R (hundreds for 250-frame sequences) loses ~1e-5 absolute, which the
    backward divides by gamma inside exp: gradients were off by 0.3% (gamma 0.1) to 1.2% (gamma
    0.01) for 250 x 300 frames, and the divergence subtracts three such values."""
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"soft_dtw expects (B, Tx, D) and (B, Ty, D): {tuple(x.shape)}, {tuple(y.shape)}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0: {gamma}")
    x_lengths, y_lengths = x_lengths.to(x.device, torch.long), y_lengths.to(x.device, torch.long)
    bad = (x_lengths < 1) | (x_lengths > x.shape[1]) | (y_lengths < 1) | (y_lengths > y.shape[1])
    if bool(bad.any()):  # one check (one device sync) per call, not per step
        raise ValueError(f"soft_dtw needs lengths in [1, T]: {x_lengths.tolist()}, {y_lengths.tolist()}")
    dtype = torch.promote_types(x.dtype, torch.float32)
    # Not under autocast: |x|^2 + |y|^2 - 2 x.y in float16 would lose the small costs to cancellation.
    with torch.autocast(device_type=x.device.type, enabled=False):
        cost = squared_distances(x.to(dtype), y.to(dtype))
    return _SoftDTW.apply(cost.double(), x_lengths, y_lengths, float(gamma))


def soft_dtw(x: torch.Tensor, y: torch.Tensor, x_lengths: torch.Tensor, y_lengths: torch.Tensor,
             gamma: float = 0.1) -> torch.Tensor:
    """(B,) soft-DTW values R[Tx_b, Ty_b] of x (B, Tx, D) against y (B, Ty, D), both padded.

    Frames past ``x_lengths`` / ``y_lengths`` (LongTensor (B,), each >= 1) change neither the value
    nor any gradient, and get zero gradient. The dynamic programme runs in float64; the result
    comes back in x's dtype (at least float32).
    """
    return _soft_dtw64(x, y, x_lengths, y_lengths, gamma).to(torch.promote_types(x.dtype, torch.float32))


def soft_dtw_divergence(x: torch.Tensor, y: torch.Tensor, x_lengths: torch.Tensor,
                        y_lengths: torch.Tensor, gamma: float = 0.1) -> torch.Tensor:
    """(B,) sdtw(x, y) - (sdtw(x, x) + sdtw(y, y)) / 2 (Blondel, Mensch & Vert 2021).

    Non-negative for the squared Euclidean cost and 0 when x == y, which plain soft-DTW is not
    (sdtw(x, x) < 0): minimising it pulls y onto x rather than onto a shrunk average.
    """
    xy = _soft_dtw64(x, y, x_lengths, y_lengths, gamma)
    xx = _soft_dtw64(x, x, x_lengths, x_lengths, gamma)
    yy = _soft_dtw64(y, y, y_lengths, y_lengths, gamma)
    # Subtracted in float64: the three terms are large and the divergence can be small.
    return (xy - 0.5 * (xx + yy)).to(torch.promote_types(x.dtype, torch.float32))


def score_loss(student: torch.Tensor, target: torch.Tensor, student_lengths: torch.Tensor,
               target_lengths: torch.Tensor, gamma: float = 0.1) -> torch.Tensor:
    """SCORE's loss: the mean over items of divergence / (T_student + T_target).

    Inputs are the already projected, per-frame L2-normalised features (the caller does that).
    The official code runs batch size 1 and divides the batch mean by the summed lengths; with a
    batch, each item is divided by its own lengths before the mean, so a long item does not
    outweigh a short one.
    """
    div = soft_dtw_divergence(student, target, student_lengths, target_lengths, gamma)
    total = (student_lengths + target_lengths).to(device=div.device, dtype=div.dtype)
    return (div / total).mean()
