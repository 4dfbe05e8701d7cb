"""Round-robin timing, shared by the benchmarks: each round runs every system once, the starting
system moving on by one each round, so that machine noise (another process, a clock change) hits
all of them alike."""

import time
from typing import Callable, List, Sequence, TypeVar

import torch

T = TypeVar("T")


def timed(run: Callable[[], object], device: str = "cpu") -> float:
    """Wall seconds of ``run()`` (on CUDA, with the device synchronised on both ends)."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def round_robin(systems: Sequence[T], rounds: int, run: Callable[[T], object], device: str = "cpu") -> List[List[float]]:
    """``rounds`` rounds of ``run`` on every system, rotated; the times, per system in order."""
    times: List[List[float]] = [[] for _ in systems]
    for r in range(rounds):
        for j in range(len(systems)):
            i = (r + j) % len(systems)
            times[i].append(timed(lambda: run(systems[i]), device))
    return times
