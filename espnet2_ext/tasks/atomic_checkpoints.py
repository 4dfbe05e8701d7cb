"""ESPnet's trainer writes ``checkpoint.pth`` (and ``<N>epoch.pth``) in place with ``torch.save``.
A job killed during that write (a wall-clock limit, a pre-empted node) leaves a cut-off zip, and
every later ``--resume true`` run then dies in ``torch.load`` ("failed finding central
directory") until someone deletes the file by hand: the last epoch's state is lost either way.

:func:`install` gives ``espnet2.train.trainer`` a ``torch`` whose ``save`` to a path writes a
temporary file beside it and renames it into place, so a kill leaves the previous checkpoint
whole (and at most a stray temporary file). Everything else is the real ``torch`` module. Stock
ESPnet has no hook for how the trainer saves, hence the substitution of its module global.
"""

import types
from pathlib import Path
from typing import Any

import torch

from espnet2_ext.kaldi_files import replaced_atomically


def atomic_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
    """``torch.save``, atomic for a path (a file object is written as torch would)."""
    if not isinstance(f, (str, Path)):
        torch.save(obj, f, *args, **kwargs)
        return
    with replaced_atomically(f) as tmp:
        torch.save(obj, tmp, *args, **kwargs)


class _TorchWithAtomicSave(types.ModuleType):
    """The ``torch`` module as the trainer sees it: every attribute is torch's but ``save``."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.save = atomic_save

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


def install() -> None:
    """Make ESPnet's trainer save its checkpoints atomically (idempotent)."""
    import espnet2.train.trainer as trainer

    if not isinstance(trainer.torch, _TorchWithAtomicSave):
        trainer.torch = _TorchWithAtomicSave()
