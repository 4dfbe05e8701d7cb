"""Runs in a spawned process; imports nothing of espnet2_ext itself (test_registration)."""


def frontends_after_unpickling(_worker) -> list:
    """The ASR frontends ESPnet knows in a fresh process once ``_worker`` has been unpickled."""
    import espnet2.tasks.asr as asr_task

    return sorted(asr_task.frontend_choices.classes)
