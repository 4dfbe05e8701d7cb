"""The one place where the project's classes are plugged into ESPnet's ClassChoices.

ESPnet keeps a separate set of module-level registries per task (``espnet2.tasks.asr``,
``.cls``, ``.hubert``); each entry below is added to every task it lists.
Importing this module is idempotent.
"""

from espnet2_ext import offline  # noqa: F401  (must precede every espnet2 import)

import espnet2.tasks.asr as asr_task  # noqa: E402
import espnet2.tasks.cls as cls_task  # noqa: E402
import espnet2.tasks.hubert as hubert_task  # noqa: E402
from espnet2.asr.encoder.linear_encoder import LinearEncoder  # noqa: E402
from espnet2.samplers.build_batch_sampler import BATCH_TYPES  # noqa: E402
from espnet2.train.class_choices import ClassChoices  # noqa: E402

from espnet2_ext.context import INJECT_FRONTEND, MODEL_NAME  # noqa: E402
from espnet2_ext.context.inject import InjectedContextFrontend  # noqa: E402
from espnet2_ext.context.model import ContextAwareASRModel, ContextAwareCLSModel  # noqa: E402
from espnet2_ext.context.sampler import BATCH_TYPE, RecordingBatchSampler  # noqa: E402
from espnet2_ext.fastinf.early_exit import MODEL_NAME as EARLY_EXIT, EarlyExitASRModel  # noqa: E402
from espnet2_ext.fastinf.upsample import CTCUpsampler  # noqa: E402
from espnet2_ext.ssl.model import WeightedHubertPretrainModel  # noqa: E402
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend  # noqa: E402

ALL_TASKS = (asr_task, cls_task)

# (registry attribute, name, class, task modules)
ENTRIES = (
    ("frontend_choices", "ssl_upstream", SSLUpstreamFrontend, ALL_TASKS),
    # ESPnet's own LinearEncoder; with ``input_layer: null`` and equal sizes it is a pass-through,
    # which is what "SSL upstream + task head" fine-tuning needs after a frontend.
    ("encoder_choices", "linear", LinearEncoder, ALL_TASKS),
    # r CTC frames per encoder frame after strong downsampling (ESPnet's CTC has no registry).
    ("postencoder_choices", "ctc_upsample", CTCUpsampler, (asr_task,)),
    # Early exiting for CTC ASR: exit heads on upper upstream layers (espnet2_ext.fastinf.early_exit).
    ("model_choices", EARLY_EXIT, EarlyExitASRModel, (asr_task,)),
    # Context-aware fine-tuning and the context-injection baseline (espnet2_ext.context).
    ("model_choices", MODEL_NAME, ContextAwareASRModel, (asr_task,)),
    ("model_choices", MODEL_NAME, ContextAwareCLSModel, (cls_task,)),
    ("frontend_choices", INJECT_FRONTEND, InjectedContextFrontend, ALL_TASKS),
    # HuBERT pretraining with the unmasked-frame loss weight exposed (espnet2_ext.ssl.model).
    ("model_choices", "torchaudio_weighted", WeightedHubertPretrainModel, (hubert_task,)),
)


def register(choices: ClassChoices, name: str, cls: type) -> None:
    """Add ``cls`` under ``name``, with the type check ``ClassChoices.__init__`` would do."""
    name = name.lower()
    if choices.base_type is not None and not issubclass(cls, choices.base_type):
        raise TypeError(f"{cls.__name__} is not a subclass of {choices.base_type.__name__}")
    existing = choices.classes.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"--{choices.name} {name} is already taken by {existing.__name__}")
    choices.classes[name] = cls


def register_all() -> None:
    for attribute, name, cls, tasks in ENTRIES:
        for task in tasks:
            register(getattr(task, attribute), name, cls)
    # --batch_type choices are read from this dict; the tasks of espnet2_ext.tasks build it.
    BATCH_TYPES[BATCH_TYPE] = RecordingBatchSampler.__doc__


register_all()
