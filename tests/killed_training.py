"""Kill and resume of ESPnet training programs, in forked children of the test process.

Each run is a fresh process, as a re-run of a stage is, but a fork of this one: it starts with
ESPnet already imported (a new interpreter costs ~13 s of imports). One run is killed with SIGKILL
right after a given number of optimiser updates, as an out-of-memory kill or a preempted job
would be, and the same command run again must resume to the model of a run never interrupted.
"""

import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from train_tiny import final_state

Main = Callable[[List[str]], Optional[int]]  # a training program's main(argv), e.g. asr_train.main


def _kill_after(updates: int) -> Callable[..., None]:
    """An optimiser step hook that SIGKILLs this process at its ``updates``-th step."""
    done = 0

    def count(*_) -> None:
        nonlocal done
        done += 1
        if done == updates:
            os.kill(os.getpid(), signal.SIGKILL)

    return count


def _child(main: Main, argv: List[str], log: Path, kill_after: Optional[int]) -> None:
    stream = open(log, "w", buffering=1)
    for fd in (1, 2):  # C-level output too (e.g. a crash's message)
        os.dup2(stream.fileno(), fd)
    sys.stdout = sys.stderr = stream
    # The parent's handlers are pytest's: without them ESPnet's basicConfig logs to the file.
    logging.root.handlers.clear()
    if kill_after is not None:
        register_optimizer_step_post_hook(_kill_after(kill_after))
    raise SystemExit(main(argv) or 0)


def run_forked(main: Main, argv: Sequence[str], log: Path, kill_after: Optional[int] = None) -> int:
    """The exit status of ``main(argv)`` run in a forked child with its output in ``log``
    (``-SIGKILL`` if ``kill_after`` updates killed it)."""
    child = multiprocessing.get_context("fork").Process(target=_child, args=(main, list(argv), log, kill_after))
    child.start()
    child.join()
    return child.exitcode


def check_killed_run_resumes(main: Main, options: Callable[[Path], List[str]], tmp: Path,
                             updates_per_epoch: int) -> None:
    """``main(options(output_dir))``, killed two updates into epoch 2 (or one, if an epoch has only
    two) and run again, resumes from the epoch-1 checkpoint and ends with every tensor of the
    3-epoch model, and every epoch's training and validation figures, of a run never interrupted."""
    logs = {name: tmp / f"{name}.log" for name in ("uninterrupted", "killed", "resumed")}
    assert run_forked(main, options(tmp / "uninterrupted"), logs["uninterrupted"]) == 0, tail(logs["uninterrupted"])
    interrupted = tmp / "interrupted"
    kill_after = updates_per_epoch + min(2, updates_per_epoch - 1)
    assert run_forked(main, options(interrupted), logs["killed"], kill_after) == -signal.SIGKILL, tail(logs["killed"])
    assert final_state(interrupted)["reporter"]["epoch"] == 1
    assert run_forked(main, options(interrupted), logs["resumed"]) == 0, tail(logs["resumed"])
    resumed = logs["resumed"].read_text()
    assert "1epoch results" not in resumed and "2epoch results" in resumed

    expected, got = final_state(tmp / "uninterrupted"), final_state(interrupted)
    assert got["reporter"]["epoch"] == 3
    assert expected["model"].keys() == got["model"].keys()
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, got["model"][name]), name
    for epoch in (1, 2, 3):  # the same figures, timings aside, in every epoch's report
        for mode in ("train", "valid"):
            np.testing.assert_equal(*(_figures(state["reporter"]["stats"][epoch][mode]) for state in (expected, got)))


def _figures(stats: dict) -> dict:
    return {key: value for key, value in stats.items() if not key.endswith("time")}


def tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.is_file() else f"{log}: not written"
