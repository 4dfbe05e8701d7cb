"""The distributed path on CPU: ESPnet's training program under PyTorch's launcher (torchrun), two
processes with the gloo backend (ESPnet reads the launcher's RANK/WORLD_SIZE; DDP averages the
gradients). It trains the same model as one process would, with each batch split between the ranks."""

import re
import subprocess
import sys

import torch
from train_tiny import final_state, tiny_data, training_options

from espnet2_ext.tasks import ASRTask


def test_two_cpu_processes_train_one_model_with_gloo(tmp_path):
    data = tiny_data(tmp_path)
    ASRTask.main(cmd=training_options(tmp_path, data, tmp_path / "one_process"))
    distributed = tmp_path / "two_processes"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "espnet2_ext.bin.asr_train", *training_options(tmp_path, data, distributed),
         "--ngpu", "0", "--dist_backend", "gloo", "--multiprocessing_distributed", "false"],
        capture_output=True, text=True,
    )
    # Every rank ends cleanly (no rank aborts at exit, which would make the launcher kill rank 0
    # before it has averaged and saved the final models).
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (distributed / "valid.loss.ave.pth").is_file()
    assert re.search(r"^\[[^]]*:0/2\] .*3epoch results", proc.stderr, re.M)  # ESPnet's rank 0 of 2
    one, two = final_state(tmp_path / "one_process"), final_state(distributed)
    assert two["reporter"]["epoch"] == 3
    assert {k: v.shape for k, v in one["model"].items()} == {k: v.shape for k, v in two["model"].items()}
    losses = [two["reporter"]["stats"][epoch]["train"]["loss"] for epoch in (1, 2, 3)]
    assert losses[2] < losses[0]  # it learned
    # The ranks' batches are halves of the one-process batches: a different model, not a copy.
    assert any(not torch.equal(one["model"][k], two["model"][k]) for k in one["model"])
