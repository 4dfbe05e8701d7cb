"""ESPnet tasks as used by this project.

Each class is the stock task, re-declared here so that ``--multiprocessing_distributed``
workers (spawned, unpickling ``cls.main_worker`` by module path) import
:mod:`espnet2_ext.registration` and therefore know the project's registered classes. The ASR and
CLS tasks also accept the context-aware fine-tuning inputs and ``--batch_type recording``
(:mod:`espnet2_ext.context`). Every training process ends its process group (see
``_EndsItsProcessGroup``) and writes its checkpoints atomically (:mod:`.atomic_checkpoints`).
"""

import argparse
import inspect
from typing import Dict, Tuple, Type

import torch

from espnet2_ext import registration  # noqa: F401  (registers before the tasks are used)

import espnet2.tasks.cls as _cls  # noqa: E402
from espnet2.tasks.abs_task import AbsTask  # noqa: E402
from espnet2.tasks.asr import ASRTask as _ASRTask  # noqa: E402
from espnet2.tasks.cls import CLSTask as _CLSTask  # noqa: E402
from espnet2.tasks.hubert import HubertTask as _HubertTask  # noqa: E402

from espnet2_ext.context import CONTEXT_DATA_NAMES, sampler  # noqa: E402
from espnet2_ext.tasks import atomic_checkpoints  # noqa: E402
from espnet2_ext.rewire.task import RewireTask as _RewireTask  # noqa: E402
from espnet2_ext.score.task import ScoreTask as _ScoreTask  # noqa: E402


atomic_checkpoints.install()  # a kill while a checkpoint is written leaves the previous one


class _EndsItsProcessGroup:
    """ESPnet's training process never destroys its torch.distributed process group. With gloo
    (several CPU processes under torchrun), a rank that finishes first then aborts at exit
    ("terminate called without an active exception": the group's threads are still running), and
    the launcher kills the other ranks, rank 0 included, before it has saved the final models."""

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        try:
            super().main_worker(args)
        finally:
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


class _ContextInputs:
    """Context-aware fine-tuning's training inputs and its recording batch sampler."""

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        super().add_task_arguments(parser)
        sampler.add_arguments(parser)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return tuple(super().optional_data_names(train, inference)) + CONTEXT_DATA_NAMES

    @classmethod
    def build_sequence_iter_factory(cls, args: argparse.Namespace, iter_options, mode: str):
        if iter_options.batch_type == sampler.BATCH_TYPE:
            return sampler.build_recording_iter_factory(cls, args, iter_options)
        return super().build_sequence_iter_factory(args, iter_options, mode)


class ASRTask(_EndsItsProcessGroup, _ContextInputs, _ASRTask):
    """Speech recognition (CTC/attention); also NER as tagged transcripts."""


class CLSTask(_EndsItsProcessGroup, _ContextInputs, _CLSTask):
    """Utterance classification (sentiment)."""

    @classmethod
    def build_model(cls, args: argparse.Namespace):
        """The stock model, or the ``--model`` choice: ESPnet's CLSTask ignores model_choices."""
        model_class = _cls.model_choices.get_class(getattr(args, "model", None) or "espnet")
        if model_class is _cls.ESPnetClassificationModel:
            return super().build_model(args)
        # Build the stock model from the options it knows, then the chosen class from its parts.
        stock_options = inspect.signature(_cls.ESPnetClassificationModel).parameters
        own = {k: v for k, v in args.model_conf.items() if k not in stock_options}
        stock = super().build_model(argparse.Namespace(**{
            **vars(args), "model_conf": {k: v for k, v in args.model_conf.items() if k not in own}
        }))
        args.token_list = stock.token_list  # the stock build stores the list for a portable config
        parts = ("frontend", "specaug", "normalize", "preencoder", "encoder", "decoder")
        return model_class(vocab_size=stock.vocab_size, token_list=stock.token_list,
                           **{p: getattr(stock, p) for p in parts}, **args.model_conf)


class HubertTask(_EndsItsProcessGroup, _HubertTask):
    """HuBERT masked-prediction pretraining (the project's default upstream)."""


class ScoreTask(_EndsItsProcessGroup, _ScoreTask):
    """SCORE: correspondence fine-tuning of an upstream (:mod:`espnet2_ext.score`)."""


class RewireTask(_EndsItsProcessGroup, _RewireTask):
    """Self-supervised rewiring of an upstream (:mod:`espnet2_ext.rewire`)."""


# By the stage script's --task name.
TASKS: Dict[str, Type[AbsTask]] = {"asr": ASRTask, "cls": CLSTask, "hubert": HubertTask, "score": ScoreTask,
                               "rewire": RewireTask}
