"""Tiny context-aware / context-injection models for the tests of espnet2_ext.context."""

import copy
from pathlib import Path
from typing import Any, Dict

import torch
import yaml

from espnet2_ext.tasks import ASRTask, CLSTask

# A 1-layer, 32-wide upstream of the HuBERT CNN layout, without dropout or layer drop, so that
# training-mode and eval-mode outputs agree.
TINY_FRONTEND = {
    "arch": "tiny",
    "weights": "random",
    "arch_conf": {
        "extractor_conv_layer_config": [[16, 10, 5]] + [[16, 3, 2]] * 4 + [[16, 2, 2]] * 2,
        "encoder_embed_dim": 32,
        "encoder_num_layers": 1,
        "encoder_num_heads": 2,
        "encoder_ff_interm_features": 64,
        "encoder_pos_conv_kernel": 16,
        "encoder_pos_conv_groups": 2,
        "encoder_projection_dropout": 0.0,
        "encoder_attention_dropout": 0.0,
        "encoder_dropout": 0.0,
        "encoder_layer_drop": 0.0,
    },
}
BASE: Dict[str, Any] = {
    "frontend": "ssl_upstream",
    "frontend_conf": TINY_FRONTEND,
    "normalize": None,
    "encoder": "linear",
    "encoder_conf": {"output_size": 32, "input_layer": None, "normalize_before": False, "dropout_rate": 0.0},
    "seed": 0,
}
ASR_TOKENS = "<blank>\n<unk>\na\nb\n<sos/eos>\n"
CLS_TOKENS = "negative\nneutral\npositive\n<unk>\n"


def config(task: str = "asr", **overrides: Any) -> Dict[str, Any]:
    """A config dict for ``task`` (asr: CTC; cls: mean-pooling linear classifier)."""
    conf = copy.deepcopy(BASE)
    if task == "asr":
        conf.update(decoder=None, model_conf={"ctc_weight": 1.0})
    else:
        conf.update(decoder="linear", decoder_conf={"pooling": "mean"}, model_conf={})
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(conf.get(key), dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    return conf


def build(tmp: Path, task: str = "asr", **overrides: Any) -> torch.nn.Module:
    """The model ESPnet's task builds from ``config(task, **overrides)`` (seeded)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "conf.yaml").write_text(yaml.safe_dump(config(task, **overrides)))
    (tmp / "tokens.txt").write_text(ASR_TOKENS if task == "asr" else CLS_TOKENS)
    task_class = ASRTask if task == "asr" else CLSTask
    args = task_class.get_parser().parse_args(
        ["--config", str(tmp / "conf.yaml"), "--token_list", str(tmp / "tokens.txt"), "--output_dir", str(tmp / "exp")]
    )
    torch.manual_seed(0)
    return task_class.build_model(args)


def save_exp_dir(tmp: Path, model: torch.nn.Module, model_file: str = "model.pth") -> None:
    """``tmp``, where ``build`` wrote an ASR model's files, as the exp dir training leaves:
    ``config.yaml`` (token list inlined) and the weights in ``model_file``."""
    args = ASRTask.get_parser().parse_args(
        ["--config", str(tmp / "conf.yaml"), "--token_type", "char", "--output_dir", str(tmp)])
    args.token_list = (tmp / "tokens.txt").read_text().split()  # as training saves it
    (tmp / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), tmp / model_file)
