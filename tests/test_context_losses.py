"""The auxiliary context losses against values computed by hand on 2-d vectors."""

import math

import pytest
import torch

from espnet2_ext.context.losses import context_loss, copies_of_anchor_or_positive, pairs_from_positions

# Anchors a0..a2 and targets b0..b2; a0 has neighbours b0 and b1, a1 has b2, a2 has none.
ANCHORS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
BANK = torch.tensor([[1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
PAIRS = torch.tensor([[0, 0], [0, 1], [1, 2]])
R = 1 / math.sqrt(2)  # cos(a0, b0) = cos(a1, b0)


def test_cosine_averages_per_segment_then_over_segments_with_neighbours():
    # a0: (1 - cos 45deg + 1 - cos 90deg) / 2; a1: 1 - cos 90deg; a2 is left out.
    expected = ((1 - R + 1) / 2 + 1) / 2
    assert context_loss("cosine", ANCHORS, BANK, PAIRS).item() == pytest.approx(expected, abs=1e-6)


def test_l2_is_the_mean_squared_difference_per_dimension():
    # a0-b0 = (0, -1): 0.5; a0-b1 = (1, -1): 1; a1-b2 = (1, 1): 1.
    expected = ((0.5 + 1.0) / 2 + 1.0) / 2
    assert context_loss("l2", ANCHORS, BANK, PAIRS).item() == pytest.approx(expected, abs=1e-6)


def test_infonce_leaves_the_other_positives_out_of_the_denominator():
    t = 0.1
    # Pair (a0, b0): candidates b0, b2 (b1 is a0's other positive); cosines R and -1.
    l00 = -math.log(math.exp(R / t) / (math.exp(R / t) + math.exp(-1 / t)))
    # Pair (a0, b1): candidates b1, b2; cosines 0 and -1.
    l01 = -math.log(1 / (1 + math.exp(-1 / t)))
    # Pair (a1, b2): candidates b0, b1, b2; cosines R, 1, 0.
    l12 = -math.log(1 / (math.exp(R / t) + math.exp(1 / t) + 1))
    expected = ((l00 + l01) / 2 + l12) / 2
    assert context_loss("infonce", ANCHORS, BANK, PAIRS, temperature=t).item() == pytest.approx(expected, rel=1e-5)


def test_infonce_exclusions_drop_candidates():
    exclude = torch.zeros(3, 3, dtype=torch.bool)
    exclude[1, 1] = True  # e.g. the anchor itself when the bank is the batch
    l12 = -math.log(1 / (math.exp(R / 0.5) + 1))  # candidates b0, b2 for a1
    loss = context_loss("infonce", ANCHORS, BANK, PAIRS[2:], temperature=0.5, exclude=exclude)
    assert loss.item() == pytest.approx(l12, rel=1e-5)


def test_no_pair_gives_zero_without_nan():
    anchors = ANCHORS.clone().requires_grad_()
    for kind in ("cosine", "infonce", "l2"):
        loss = context_loss(kind, anchors, BANK, torch.zeros(0, 2, dtype=torch.long))
        assert loss.item() == 0.0
        assert torch.isfinite(loss + anchors.sum())  # usable in a total loss


@pytest.mark.parametrize("kind", ["cosine", "infonce", "l2"])
def test_stop_gradient_keeps_the_targets_fixed(kind):
    anchors, bank = ANCHORS.clone().requires_grad_(), BANK.clone().requires_grad_()
    context_loss(kind, anchors, bank, PAIRS).backward()
    assert bank.grad is None and anchors.grad.abs().sum() > 0
    context_loss(kind, anchors, bank, PAIRS, stop_gradient=False).backward()
    assert bank.grad.abs().sum() > 0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="context loss"):
        context_loss("dot", ANCHORS, BANK, PAIRS)


def test_pairs_from_positions_follow_recording_and_offsets():
    # (recording, index): 0:(0,0) 1:(0,1) 2:(0,2) 3:(1,3) 4:(0,4); item 3 is alone in recording 1.
    positions = torch.tensor([[0, 0], [0, 1], [0, 2], [1, 3], [0, 4]])
    assert pairs_from_positions(positions, [-1, 1]).tolist() == [[0, 1], [1, 0], [1, 2], [2, 1]]
    assert pairs_from_positions(positions, [1]).tolist() == [[0, 1], [1, 2]]
    window = pairs_from_positions(positions, [-2, -1, 1, 2]).tolist()
    assert window == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1], [2, 4], [4, 2]]


def test_copies_of_the_anchor_or_its_positives_are_excluded():
    anchors = torch.tensor([[0, 0], [0, 1]])  # segments 0 and 1 of recording 0
    bank = torch.tensor([[0, 1], [0, 0], [0, 2], [0, 1]])  # 0's next, 1's prev, 1's next, a second (0, 1)
    pairs = torch.tensor([[0, 0], [1, 1], [1, 2]])
    assert copies_of_anchor_or_positive(anchors, bank, pairs).tolist() == [
        [True, True, False, True],  # its positive (0, 1) and both copies, and its own audio (0, 0)
        [True, True, True, True],  # its own audio (0, 1) twice, and its positives (0, 0), (0, 2)
    ]
