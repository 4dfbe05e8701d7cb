"""Kill and resume: ESPnet's training program killed with SIGKILL in the middle of an epoch and run
again with the same command resumes from its last epoch checkpoint and ends with the model, bit for
bit, of a run that was never interrupted (on CPU; dropout and batch shuffling included, so the
same command also gives the same model twice)."""

import subprocess
import sys
from pathlib import Path

import torch
from train_tiny import BATCHES_PER_EPOCH, final_state, tiny_data, training_options

from espnet2_ext.tasks import ASRTask


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_model(tmp_path):
    data = tiny_data(tmp_path)
    ASRTask.main(cmd=training_options(tmp_path, data, tmp_path / "uninterrupted"))

    interrupted = tmp_path / "interrupted"
    options = training_options(tmp_path, data, interrupted)
    killed = subprocess.run([sys.executable, str(Path(__file__).with_name("killed_training.py")),
                             str(BATCHES_PER_EPOCH + 2), *options], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert final_state(interrupted)["reporter"]["epoch"] == 1  # killed two updates into epoch 2

    resumed = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.asr_train", *options],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1epoch results" not in resumed.stderr and "2epoch results" in resumed.stderr

    expected, got = final_state(tmp_path / "uninterrupted"), final_state(interrupted)
    assert got["reporter"]["epoch"] == 3
    assert expected["model"].keys() == got["model"].keys()
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, got["model"][name]), name
    for epoch in (1, 2, 3):  # the same losses in every epoch's report
        assert expected["reporter"]["stats"][epoch]["valid"]["loss"] == got["reporter"]["stats"][epoch]["valid"]["loss"]
