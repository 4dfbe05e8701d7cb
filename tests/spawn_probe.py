"""Runs in a spawned process; imports nothing of espnet2_ext itself (test_registration)."""

import pickle
from typing import List


def frontends_after_unpickling(*pickled_workers: bytes) -> List[List[str]]:
    """The ASR frontends ESPnet knows in a fresh process after each pickled worker, in order, is
    unpickled (as ``--multiprocessing_distributed`` unpickles ``cls.main_worker`` in its workers)."""
    import espnet2.tasks.asr as asr_task

    known = []
    for worker in pickled_workers:
        pickle.loads(worker)
        known.append(sorted(asr_task.frontend_choices.classes))
    return known
