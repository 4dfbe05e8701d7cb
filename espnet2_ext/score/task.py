"""``score_train``'s ESPnet task: SCORE fine-tuning of an upstream on unlabelled speech.

Input data is speech only (``wav.scp``); the model (``model: score``) makes its own second view
and its own target. The frontend choice is the project's SSL upstream, which is the student.
"""

import argparse
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.class_choices import ClassChoices
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.train.trainer import Trainer
from espnet2.utils.types import str2bool

from espnet2_ext.score.model import ScoreModel
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

frontend_choices = ClassChoices(
    "frontend", classes=dict(ssl_upstream=SSLUpstreamFrontend), type_check=AbsFrontend,
    default="ssl_upstream",
)
model_choices = ClassChoices(
    "model", classes=dict(score=ScoreModel), type_check=AbsESPnetModel, default="score",
)


class ScoreTask(AbsTask):
    """SCORE correspondence fine-tuning (``espnet2_ext.score.model``)."""

    num_optimizers: int = 1
    class_choices_list = [frontend_choices, model_choices]
    trainer = Trainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        # The stage script passes it to every task; speech needs no preprocessing here.
        group.add_argument("--use_preprocessor", type=str2bool, default=True,
                           help="Accepted for the stage scripts; SCORE reads raw speech only")
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]], Tuple[List[str], Dict[str, torch.Tensor]]
    ]:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Optional[Callable]:
        return None

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ScoreModel:
        frontend = frontend_choices.get_class(args.frontend)(**args.frontend_conf)
        return model_choices.get_class(args.model)(frontend=frontend, **args.model_conf)
