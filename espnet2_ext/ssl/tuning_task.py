"""The ESPnet task shape of methods that tune an upstream on unlabelled speech (SCORE, rewiring).

Input data is speech (``wav.scp``) plus whatever extra views a method reads (``extra_data_names``);
the frontend is the project's SSL upstream, the one being tuned; each method brings its model
choice. A method's task is a subclass that sets ``class_choices_list`` (with
:data:`frontend_choices` and its own model choices) and, if any, ``extra_data_names``.
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

from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

frontend_choices = ClassChoices(
    "frontend", classes=dict(ssl_upstream=SSLUpstreamFrontend), type_check=AbsFrontend,
    default="ssl_upstream",
)


def check_tuned_frontend(frontend: SSLUpstreamFrontend, method: str, layers: str, training: str,
                         cnn_may_freeze: bool) -> None:
    """A tuning method reads raw 16 kHz audio through the whole upstream and decides itself
    which layers it reads (``layers`` says how) and which parts train (``training``): the
    frontend's own layer choice, weighted sum, downsampling and freezing would contradict it."""
    if frontend.layer_weights is not None or \
            frontend.num_layers_run != len(frontend.upstream.encoder.transformer.layers):
        raise ValueError(f"model: {method} {layers}: drop frontend_conf layer/weighted_sum")
    frozen_cnn = frontend.freeze_cnn and not cnn_may_freeze
    if frontend.downsampler is not None or frontend.freeze_all or frontend.freeze_steps or frozen_cnn:
        options = "downsample/" + ("" if cnn_may_freeze else "freeze_cnn/freeze_layers/")
        raise ValueError(f"model: {method} {training}: drop frontend_conf {options}freeze_all/freeze_steps")


class UpstreamTuningTask(AbsTask):
    """Speech in, a tuned upstream out; the model choice names the method."""

    num_optimizers: int = 1
    class_choices_list: List[ClassChoices] = [frontend_choices]  # a method adds its model choices
    trainer = Trainer
    extra_data_names: Tuple[str, ...] = ()  # optional inputs besides speech (e.g. another view)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        # The stage script passes it to every task; speech needs no preprocessing here.
        group.add_argument("--use_preprocessor", type=str2bool, default=True,
                           help="Accepted for the stage scripts; the speech is read raw")
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
        return cls.extra_data_names

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> AbsESPnetModel:
        frontend = frontend_choices.get_class(args.frontend)(**args.frontend_conf)
        model_choices = cls.class_choices_list[-1]
        return model_choices.get_class(args.model)(frontend=frontend, **args.model_conf)
