"""Where an upstream's weights come from: random init, the project's own checkpoints, or transformers.

Every source ends as a torchaudio ``Wav2Vec2Model`` (WavLM: torchaudio's ``wavlm_model``), so the
frontend and all fine-tuning methods have one implementation to work with:

* ``random``: a randomly initialised encoder of a named architecture (a baseline);
* a ``.pth`` file written by ``export_upstream`` (the project's compact format), or a checkpoint of
  ESPnet's ``hubert_train`` task (``encoder: torchaudio_hubert``) with its ``config.yaml`` beside it;
* a local transformers directory (``config.json`` + weights) of wav2vec2, HuBERT or WavLM, or its
  ``config.json``, loaded with transformers' own classes and converted by torchaudio's
  ``import_huggingface_model``;
* ``hf:<hub id>`` (e.g. ``hf:facebook/hubert-base-ls960``): the same, downloaded when online.
"""

import logging
import pickle
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
import yaml
from torchaudio.models import Wav2Vec2Model

from espnet2_ext.errors import DataError
from espnet2_ext.upstream.architectures import ARCHITECTURES, WAVLM_KEYS, build_architecture, build_model

_LOG = logging.getLogger(__name__)

EXPORT_FORMAT = "espnet2_ext.upstream/1"
# The wav2vec2_model (and wavlm_model) arguments; ESPnet's torchaudio_hubert encoder_conf uses
# the same names.
ARCH_KEYS = frozenset(ARCHITECTURES["tiny"]) | WAVLM_KEYS
ESPNET_HUBERT_PREFIX = "encoder.hubert_pretrain_model.wav2vec2."
# Options a checkpoint's architecture may take from the fine-tuning config (they change no
# weight shape), with the names transformers' configs give them.
REGULARISATION_KEYS = {
    "encoder_projection_dropout": "feat_proj_dropout",
    "encoder_attention_dropout": "attention_dropout",
    "encoder_ff_interm_dropout": "activation_dropout",
    "encoder_dropout": "hidden_dropout",
    "encoder_layer_drop": "layerdrop",
}


def load_upstream(
    weights: str, arch: Optional[str] = None, arch_conf: Optional[Dict[str, Any]] = None
) -> Wav2Vec2Model:
    """Build the upstream named by ``weights`` (see the module docstring).

    ``arch``/``arch_conf`` choose the architecture of a ``random`` upstream. A checkpoint brings
    its own architecture: ``arch`` is then an error rather than silently ignored, and
    ``arch_conf`` may only change dropouts and layer drop (``REGULARISATION_KEYS``).
    """
    if weights == "random":
        if arch is None:
            raise ValueError("weights: random needs an architecture name (arch: tiny|hubert_base|large|wavlm_large)")
        _LOG.warning("SSL upstream '%s' with RANDOM initial weights", arch)
        return build_architecture(arch, **(arch_conf or {}))
    overrides = dict(arch_conf or {})
    shaping = sorted(set(overrides) - set(REGULARISATION_KEYS))
    if arch is not None or shaping:
        raise ValueError(
            f"'{weights}' defines its own architecture: arch and {shaping or 'arch_conf'} apply to "
            f"weights: random only (a checkpoint takes only {sorted(REGULARISATION_KEYS)})"
        )
    transformers_source = _transformers_source(weights)
    if transformers_source is not None:
        return _from_transformers(*transformers_source, overrides)
    return _from_checkpoint_file(_checkpoint_file(weights), overrides)


def upstream_config(
    weights: str, arch: Optional[str] = None, arch_conf: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    """The ``wav2vec2_model`` config of the upstream that ``load_upstream`` builds from the same
    arguments: what an export needs after a method changed its weights (SCORE, rewiring)."""
    overrides = dict(arch_conf or {})
    if weights == "random":
        return {**ARCHITECTURES[arch], **overrides}
    transformers_source = _transformers_source(weights)
    if transformers_source is not None:
        config = _transformers_config(*transformers_source)
    else:
        config, _ = read_checkpoint(_checkpoint_file(weights))
    return {**config, **overrides}


def _transformers_source(weights: str) -> Optional[Tuple[str, bool]]:
    """(hub id or directory, local) if ``weights`` names a transformers model, else None."""
    if weights.startswith("hf:"):
        return weights[3:], False
    path = Path(weights)
    if path.name == "config.json" and path.is_file():  # a transformers directory by its config
        path = path.parent
    if not path.is_dir():
        return None
    if not (path / "config.json").is_file():
        raise DataError(f"{path}: not a transformers model directory (no config.json)")
    return str(path), True


def _checkpoint_file(weights: str) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise DataError(
            f"{path}: upstream checkpoint not found (for a Hugging Face hub id write 'hf:<id>')"
        )
    return path


def export_upstream(model: Wav2Vec2Model, config: Mapping[str, Any], path: Path, info: Mapping) -> None:
    """Save an upstream in the project's compact format: its config, weights and provenance."""
    unknown = set(config) - ARCH_KEYS
    if unknown:
        raise ValueError(f"not wav2vec2_model options: {sorted(unknown)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": EXPORT_FORMAT,
        "config": dict(config),
        "state_dict": model.state_dict(),
        "info": dict(info),
    }
    torch.save(payload, path)


def read_checkpoint(path: Path) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """(wav2vec2_model config, upstream state dict) of an exported or ESPnet hubert_train file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as err:  # empty, text, truncated
        first_line = (str(err).splitlines() or [type(err).__name__])[0]
        raise DataError(f"{path}: not a readable checkpoint ({first_line})") from None
    if isinstance(payload, dict) and payload.get("format") == EXPORT_FORMAT:
        _LOG.info("SSL upstream from %s (%s)", path, payload["info"])
        return dict(payload["config"]), payload["state_dict"]
    if not isinstance(payload, dict) or not any(k.startswith(ESPNET_HUBERT_PREFIX) for k in payload):
        raise DataError(
            f"{path}: neither an exported upstream nor an ESPnet hubert_train checkpoint "
            f"(no '{ESPNET_HUBERT_PREFIX}*' weights)"
        )
    config_yaml = path.parent / "config.yaml"
    if not config_yaml.is_file():
        raise DataError(f"{config_yaml}: missing; an ESPnet checkpoint needs the config.yaml of its run")
    with open(config_yaml) as f:
        encoder_conf = (yaml.safe_load(f) or {}).get("encoder_conf") or {}
    # Keys the run left out take the encoder's defaults, which are HuBERT-Base's.
    config = {**ARCHITECTURES["hubert_base"], **{k: v for k, v in encoder_conf.items() if k in ARCH_KEYS}}
    state = {k[len(ESPNET_HUBERT_PREFIX):]: v for k, v in payload.items() if k.startswith(ESPNET_HUBERT_PREFIX)}
    return config, state


def _from_checkpoint_file(path: Path, overrides: Dict[str, Any]) -> Wav2Vec2Model:
    config, state = read_checkpoint(path)
    return build_and_load(path, {**config, **overrides}, state)


def build_and_load(path: Path, config: Dict[str, Any], state: Mapping[str, torch.Tensor]) -> Wav2Vec2Model:
    """A wav2vec2_model of ``config`` with the weights ``state`` (read from ``path``)."""
    config = dict(config)
    config["extractor_conv_layer_config"] = [tuple(c) for c in config["extractor_conv_layer_config"]]
    model = build_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise DataError(f"{path}: weights do not match the architecture they came with: {err}") from None
    return model


def _transformers_config(name_or_dir: str, local: bool) -> Dict[str, Any]:
    """The config torchaudio's ``import_huggingface_model`` builds for this transformers model
    (its private helpers: torchaudio is pinned)."""
    from torchaudio.models.wav2vec2.utils.import_huggingface import _get_config, _get_config_wavlm
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(name_or_dir, local_files_only=local)
    convert = _get_config_wavlm if config.model_type == "wavlm" else _get_config
    return {**convert(config), "aux_num_out": None}


def _from_transformers(name_or_dir: str, local: bool, overrides: Dict[str, Any]) -> Wav2Vec2Model:
    # transformers' own classes read the config and weights; torchaudio converts them.
    from torchaudio.models.wav2vec2.utils import import_huggingface_model
    from transformers import AutoModel

    config_overrides = {REGULARISATION_KEYS[k]: v for k, v in overrides.items()}
    model = AutoModel.from_pretrained(name_or_dir, local_files_only=local, **config_overrides)
    kind = type(model).__name__
    if kind not in {"Wav2Vec2Model", "HubertModel", "WavLMModel"}:
        raise DataError(f"{name_or_dir}: a {kind}, not a wav2vec2/HuBERT/WavLM encoder")
    _LOG.info("SSL upstream: %s from %s", kind, name_or_dir)
    return import_huggingface_model(model)

