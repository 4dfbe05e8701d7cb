"""The training summary of an exported upstream reads ESPnet's reporter correctly."""

import datetime

import torch

from espnet2_ext.ssl.export import training_summary


def _epoch(total_count: int, seconds: float, acc_m: float) -> dict:
    return {
        "train": {"total_count": total_count, "time": datetime.timedelta(seconds=seconds), "train_time": 9.9},
        "valid": {"acc_m": acc_m, "loss": 100.0 - acc_m},
    }


def test_updates_are_the_cumulative_count_and_time_is_the_epochs_wall_time(tmp_path):
    # ESPnet's reporter: total_count is cumulative over epochs (500 then 1000 updates in all).
    stats = {1: _epoch(500, 1800.0, 0.05), 2: _epoch(1000, 1800.0, 0.1)}
    torch.save({"reporter": {"stats": stats, "epoch": 2}}, tmp_path / "checkpoint.pth")
    info = training_summary(tmp_path)
    assert info["epochs"] == 2
    assert info["updates"] == 1000
    assert info["train_hours"] == 1.0
    assert info["valid_acc_m"] == [0.05, 0.1]
