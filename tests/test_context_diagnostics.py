"""Collapse figures of context vectors (espnet2_ext/context/diagnostics.py) and their RESULTS section."""

import argparse
import math

import pytest
import torch

from espnet2_ext.context.diagnostics import (
    COLLAPSED_SPREAD, context_diagnostics, effective_rank, is_collapsed, padded_share, report, spread,
)


def test_a_constant_module_is_flagged_and_distinct_vectors_are_not():
    torch.manual_seed(0)
    constant = torch.randn(1, 8).expand(6, 8)
    pairs = torch.tensor([[0, 1], [1, 0]])
    figures = context_diagnostics(constant, constant, pairs, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert figures["ctx_spread"].item() == pytest.approx(0.0, abs=1e-6)
    assert figures["ctx_erank"].item() == 0.0
    assert figures["ctx_cos_pos"].item() == pytest.approx(1.0) and figures["ctx_cos_other"].item() == pytest.approx(1.0)
    assert is_collapsed({k: v.item() for k, v in figures.items()})
    varied = torch.randn(6, 8)
    assert not is_collapsed({"ctx_spread": spread(varied).item()})
    assert spread(varied).item() > 10 * COLLAPSED_SPREAD


def test_effective_rank_against_hand_values():
    # Centred rows +-e1 and +-e2 (equal singular values): rank 2; one direction: rank 1.
    square = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert effective_rank(square).item() == pytest.approx(2.0, abs=1e-5)
    line = torch.tensor([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    assert effective_rank(line).item() == pytest.approx(1.0, abs=1e-4)
    # Singular values 3 and 1: exp(-(0.75 ln 0.75 + 0.25 ln 0.25)).
    skewed = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]]) / math.sqrt(2)
    assert effective_rank(skewed).item() == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))),
                                                          rel=1e-5)


def test_cosines_follow_the_pairs_and_the_recordings():
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    bank = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    figures = context_diagnostics(anchors, bank, torch.tensor([[0, 0], [1, 1]]), torch.tensor([3, 3, 5]))
    assert figures["ctx_cos_pos"].item() == pytest.approx((1.0 + 0.0) / 2)
    # Other recordings: (0, 2), (1, 2) both ways: cos 1/sqrt(2) each.
    assert figures["ctx_cos_other"].item() == pytest.approx(1 / math.sqrt(2))
    no_pairs = context_diagnostics(anchors, bank, torch.zeros(0, 2, dtype=torch.long))
    assert no_pairs["ctx_cos_pos"] is None and no_pairs["ctx_cos_other"] is not None


def test_padded_share():
    assert padded_share(torch.tensor([10, 5, 5])).item() == pytest.approx(1 - 20 / 30)


def test_report_lists_the_context_systems_last_epoch_and_flags_collapse(tmp_path):
    line = ("{e}epoch results: [train] loss=50.0, loss_task=49.0, loss_ctx=0.01, ctx_cos_pos=0.99, "
            "ctx_cos_other=0.98, ctx_spread={s}, ctx_erank=1.2, pad_share=0.3, time=1 minute, "
            "[valid] loss=60.0, cer_ctc=0.5, time=5 seconds\n")
    collapsed, healthy, plain = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for exp in (collapsed, healthy, plain):
        exp.mkdir()
    (collapsed / "train.log").write_text(line.format(e=1, s=0.5) + line.format(e=2, s=0.01))
    (healthy / "train.log").write_text(line.format(e=1, s=0.4))
    (plain / "train.log").write_text("1epoch results: [train] loss=50.0, time=1 minute, [valid] loss=60.0\n")
    lines = report([collapsed, healthy, plain], ["a", "b", "c"], argparse.Namespace(), tmp_path)
    rows = [row for row in lines if row.startswith("|a|") or row.startswith("|b|") or row.startswith("|c|")]
    assert rows == ["|a|2|49.000|1.00e-02|0.990|0.980|0.010|1.200|0.300|**yes**|",
                    "|b|1|49.000|1.00e-02|0.990|0.980|0.400|1.200|0.300|no|"]
    assert report([plain], ["c"], argparse.Namespace(), tmp_path) == []
