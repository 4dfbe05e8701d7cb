"""ESPnet's trainer saves checkpoints atomically once the project's tasks are imported: a process
killed while it writes one leaves the previous checkpoint whole, so ``--resume`` still works."""

import multiprocessing
import os
import signal

import pytest
import torch

import espnet2.train.trainer as trainer
from espnet2_ext import tasks  # noqa: F401  (installs the atomic save)
from espnet2_ext.tasks.atomic_checkpoints import atomic_save


class KilledWhilePickled:
    """Kills its own process halfway through ``torch.save`` (after the tensors before it)."""

    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)


def test_the_trainer_saves_atomically_and_sees_the_rest_of_torch():
    assert trainer.torch.save is atomic_save
    assert trainer.torch.Tensor is torch.Tensor and trainer.torch.no_grad is torch.no_grad


def test_a_process_killed_while_saving_leaves_the_previous_checkpoint(tmp_path):
    checkpoint = tmp_path / "checkpoint.pth"
    atomic_save({"epoch": 1, "model": torch.ones(3)}, checkpoint)
    state = {"model": torch.zeros(100_000), "reporter": KilledWhilePickled()}
    child = multiprocessing.get_context("fork").Process(target=trainer.torch.save, args=(state, checkpoint))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    assert torch.load(checkpoint)["epoch"] == 1  # whole, and still the first epoch's


def test_a_failed_save_leaves_no_temporary_file(tmp_path):
    checkpoint = tmp_path / "checkpoint.pth"
    atomic_save({"epoch": 1}, checkpoint)
    with pytest.raises(Exception, match="pickle"):
        atomic_save({"epoch": 2, "bad": lambda: None}, checkpoint)  # lambdas do not pickle
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]
    assert torch.load(checkpoint)["epoch"] == 1
