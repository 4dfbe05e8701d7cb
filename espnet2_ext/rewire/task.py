"""``rewire_train``'s ESPnet task: self-supervised rewiring of an upstream on speech.

Input data is speech (``wav.scp``) and, for the neutral and mixed positives, each utterance's
neutral TTS rendering (``neutral_speech``: ``neutral.scp`` of :mod:`espnet2_ext.rewire.tts`).
A batch is one contrastive group (the paper: 4 utterances), so it must hold at least two.
"""

import argparse

from espnet2.train.abs_espnet_model import AbsESPnetModel
from espnet2.train.class_choices import ClassChoices

from espnet2_ext.errors import DataError
from espnet2_ext.rewire.model import RewireModel
from espnet2_ext.ssl.tuning_task import UpstreamTuningTask, frontend_choices

model_choices = ClassChoices(
    "model", classes=dict(rewire=RewireModel), type_check=AbsESPnetModel, default="rewire",
)


class RewireTask(UpstreamTuningTask):
    """Contrastive rewiring (``espnet2_ext.rewire.model``)."""

    class_choices_list = [frontend_choices, model_choices]
    extra_data_names = ("neutral_speech",)

    @classmethod
    def build_sequence_iter_factory(cls, args: argparse.Namespace, iter_options, mode: str):
        if mode == "train":
            _check_group_size(iter_options.shape_files[0], iter_options.batch_size)
        return super().build_sequence_iter_factory(args, iter_options, mode)


def _check_group_size(shape_file: str, group_size: int) -> None:
    """A contrastive group larger than the training set would make one short batch per epoch."""
    with open(shape_file, encoding="utf-8") as f:
        utterances = sum(1 for line in f if line.strip())
    if group_size > utterances:
        raise DataError(f"batch_size {group_size} (the contrastive group) is larger than the "
                        f"{utterances} training utterances of {shape_file}")
    if group_size < 2:
        raise DataError(f"batch_size {group_size}: a contrastive group needs at least 2 utterances")
