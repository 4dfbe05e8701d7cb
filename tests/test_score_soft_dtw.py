"""Soft-DTW, its divergence and SCORE's loss against plain Python dynamic programmes."""

import math
from collections.abc import Sequence

import pytest
import torch

from espnet2_ext.score.soft_dtw import score_loss, soft_dtw, soft_dtw_divergence

SHAPES = [(1, 1), (1, 5), (4, 7), (9, 3)]


def cost_rows(x: torch.Tensor, y: torch.Tensor) -> list[list[float]]:
    return ((x[:, None] - y[None]) ** 2).sum(-1).tolist()


def dp(x: torch.Tensor, y: torch.Tensor, gamma: float) -> float:
    """Soft-DTW (hard DTW for gamma = 0) of x (Tx, D) and y (Ty, D) by a double loop, float64."""
    cost = cost_rows(x.double(), y.double())
    tx, ty = len(cost), len(cost[0])
    r = [[math.inf] * (ty + 1) for _ in range(tx + 1)]
    r[0][0] = 0.0
    for i in range(1, tx + 1):
        for j in range(1, ty + 1):
            prev = (r[i - 1][j - 1], r[i - 1][j], r[i][j - 1])
            m = min(prev)
            soft = m if gamma == 0 else m - gamma * math.log(sum(math.exp(-(p - m) / gamma) for p in prev))
            r[i][j] = cost[i - 1][j - 1] + soft
    return r[tx][ty]


def dp_torch(x: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """The same programme in torch ops, for autograd to differentiate."""
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    inf = torch.tensor(math.inf, dtype=x.dtype)
    r = {(0, 0): torch.tensor(0.0, dtype=x.dtype)}
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            prev = torch.stack([r.get(key, inf) for key in ((i - 1, j - 1), (i - 1, j), (i, j - 1))])
            r[i, j] = cost[i - 1, j - 1] - gamma * torch.logsumexp(-prev / gamma, 0)
    return r[len(x), len(y)]


def padded(seqs: Sequence[torch.Tensor], extra: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences stacked into (B, T_max + extra, D); padding holds random values, not zeros."""
    t = max(len(s) for s in seqs) + extra
    out = torch.randn(len(seqs), t, seqs[0].shape[1], dtype=seqs[0].dtype) * 3
    for b, s in enumerate(seqs):
        out[b, :len(s)] = s
    return out, torch.tensor([len(s) for s in seqs])


def pairs(dim: int = 3, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(tx, dim, generator=g, dtype=torch.float64) for tx, _ in SHAPES]
    ys = [torch.randn(ty, dim, generator=g, dtype=torch.float64) for _, ty in SHAPES]
    return xs, ys


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0])
def test_values_match_the_brute_force_programme(gamma):
    xs, ys = pairs()
    (x, xl), (y, yl) = padded(xs), padded(ys, extra=1)
    got = soft_dtw(x, y, xl, yl, gamma)
    expected = torch.tensor([dp(a, b, gamma) for a, b in zip(xs, ys)], dtype=torch.float64)
    assert torch.allclose(got, expected, rtol=0, atol=1e-8)


def test_padding_changes_neither_values_nor_gradients():
    xs, ys = pairs()
    (x, xl), (y, yl) = padded(xs), padded(ys)
    x.requires_grad_(), y.requires_grad_()
    values = soft_dtw(x, y, xl, yl, 0.1)
    values.sum().backward()
    for b, (a, c) in enumerate(zip(xs, ys)):
        a, c = a[None].clone().requires_grad_(), c[None].clone().requires_grad_()
        alone = soft_dtw(a, c, xl[b:b + 1], yl[b:b + 1], 0.1)
        alone.backward()
        assert torch.allclose(values[b], alone[0], rtol=0, atol=1e-12)
        assert torch.allclose(x.grad[b, :len(a[0])], a.grad[0], rtol=0, atol=1e-12)
        assert torch.allclose(y.grad[b, :len(c[0])], c.grad[0], rtol=0, atol=1e-12)
        assert (x.grad[b, len(a[0]):] == 0).all() and (y.grad[b, len(c[0]):] == 0).all()


def test_gradcheck_with_unequal_lengths_and_padding():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 4, 2, generator=g, dtype=torch.float64, requires_grad=True)
    xl, yl = torch.tensor([5, 2, 1]), torch.tensor([3, 4, 1])
    assert torch.autograd.gradcheck(lambda a, b: soft_dtw(a, b, xl, yl, 0.5), (x, y))


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0])
def test_gradients_match_autograd_through_the_programme(gamma):
    xs, ys = pairs(seed=2)
    (x, xl), (y, yl) = padded(xs), padded(ys)
    x.requires_grad_(), y.requires_grad_()
    soft_dtw(x, y, xl, yl, gamma).sum().backward()
    for b, (a, c) in enumerate(zip(xs, ys)):
        a, c = a.clone().requires_grad_(), c.clone().requires_grad_()
        dp_torch(a, c, gamma).backward()
        assert torch.allclose(x.grad[b, :len(a)], a.grad, rtol=0, atol=1e-6)
        assert torch.allclose(y.grad[b, :len(c)], c.grad, rtol=0, atol=1e-6)


def test_divergence_is_zero_on_itself_positive_otherwise_and_symmetric():
    xs, ys = pairs(seed=3)
    (x, xl), (y, yl) = padded(xs), padded(ys)
    assert soft_dtw_divergence(x, x, xl, xl).abs().max() < 1e-6
    assert soft_dtw(x, x, xl, xl).min() < 0  # what the divergence corrects
    forward, backward = soft_dtw_divergence(x, y, xl, yl), soft_dtw_divergence(y, x, yl, xl)
    assert (forward > 0).all()
    assert torch.allclose(forward, backward, rtol=0, atol=1e-10)


def test_small_gamma_approaches_hard_dtw():
    # softmin >= min - gamma*log(3) at each cell, and softmin <= min, so along the at most
    # Tx + Ty - 1 cells of a path hard - gamma*log(3)*(Tx + Ty) <= soft <= hard.
    gamma = 1e-3
    xs, ys = pairs(seed=4)
    (x, xl), (y, yl) = padded(xs), padded(ys)
    soft = soft_dtw(x, y, xl, yl, gamma)
    for b, (a, c) in enumerate(zip(xs, ys)):
        hard = dp(a, c, 0.0)
        assert hard - gamma * math.log(3) * (len(a) + len(c)) <= soft[b].item() <= hard + 1e-12


def test_score_loss_is_the_mean_of_divergence_over_summed_lengths():
    xs, ys = pairs(seed=5)
    (x, xl), (y, yl) = padded(xs), padded(ys)
    by_hand = []
    for a, c in zip(xs, ys):
        div = dp(a, c, 0.1) - 0.5 * (dp(a, a, 0.1) + dp(c, c, 0.1))
        by_hand.append(div / (len(a) + len(c)))
    assert score_loss(x, y, xl, yl, 0.1).item() == pytest.approx(sum(by_hand) / len(by_hand), abs=1e-10)


@pytest.mark.parametrize("gamma", [1e-3, 0.1])
def test_length_one_and_identical_inputs_stay_finite(gamma):
    x = torch.randn(2, 3, 4, requires_grad=True)
    y = torch.randn(2, 1, 4, requires_grad=True)
    lengths = torch.tensor([1, 3])
    for loss in (score_loss(x, y, lengths, torch.tensor([1, 1]), gamma), score_loss(x, x, lengths, lengths, gamma)):
        x.grad = y.grad = None
        loss.backward()
        assert torch.isfinite(loss)
        assert torch.isfinite(x.grad).all() and (y.grad is None or torch.isfinite(y.grad).all())


def test_float32_agrees_with_float64():
    # Only the cost matrix is computed in float32; the programme runs in float64 either way.
    g = torch.Generator().manual_seed(6)
    x = torch.nn.functional.normalize(torch.randn(2, 40, 16, generator=g, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(2, 50, 16, generator=g, dtype=torch.float64), dim=-1)
    xl, yl = torch.tensor([40, 31]), torch.tensor([50, 45])
    grads = []
    for dtype in (torch.float64, torch.float32):
        a = x.detach().to(dtype).requires_grad_()
        score_loss(a, y.to(dtype), xl, yl).backward()
        grads.append(a.grad.double())
    assert (grads[1] - grads[0]).abs().max() < 1e-5 * grads[0].abs().max()


def test_rejects_lengths_outside_the_tensors_and_bad_shapes():
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="lengths"):
        soft_dtw(x, x, torch.tensor([3, 0]), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="lengths"):
        soft_dtw(x, x, torch.tensor([3, 3]), torch.tensor([4, 3]))
    with pytest.raises(ValueError, match="expects"):
        soft_dtw(x, torch.randn(2, 3, 5), torch.tensor([3, 3]), torch.tensor([3, 3]))
