"""Named HuBERT/wav2vec 2.0/WavLM architectures built with torchaudio's ``wav2vec2_model``
(``wavlm_model`` for WavLM)."""

from typing import Any, Dict, Mapping

from torchaudio.models import Wav2Vec2Model, wav2vec2_model, wavlm_model

# The options wavlm_model takes beyond wav2vec2_model's (relative position buckets).
WAVLM_KEYS = frozenset({"encoder_num_buckets", "encoder_max_distance"})


def _cnn(channels: int):
    """The HuBERT/wav2vec 2.0 CNN layout (400-sample receptive field, 320 stride)."""
    return [(channels, 10, 5)] + [(channels, 3, 2)] * 4 + [(channels, 2, 2)] * 2


_BASE_CNN = _cnn(512)


_COMMON = dict(
    extractor_mode="group_norm",
    extractor_conv_bias=False,
    encoder_projection_dropout=0.1,
    encoder_pos_conv_kernel=128,
    encoder_pos_conv_groups=16,
    encoder_attention_dropout=0.1,
    encoder_ff_interm_dropout=0.0,
    encoder_dropout=0.1,
    encoder_layer_norm_first=False,
    encoder_layer_drop=0.05,
    aux_num_out=None,
)

_LARGE = dict(
    _COMMON,
    extractor_mode="layer_norm",
    extractor_conv_layer_config=_BASE_CNN,
    encoder_embed_dim=1024,
    encoder_num_layers=24,
    encoder_num_heads=16,
    encoder_ff_interm_features=4096,
    encoder_layer_norm_first=True,
)

ARCHITECTURES: Dict[str, Dict[str, Any]] = {
    # HuBERT-Base / wav2vec 2.0 Base (94.4 M parameters): the size users fine-tune.
    "hubert_base": dict(
        _COMMON,
        extractor_conv_layer_config=_BASE_CNN,
        encoder_embed_dim=768,
        encoder_num_layers=12,
        encoder_num_heads=12,
        encoder_ff_interm_features=3072,
    ),
    # WavLM-Large-sized transformer on the wav2vec 2.0 Large layout (layer-norm-first CNN).
    "large": _LARGE,
    # WavLM Large (315.5 M parameters), the values of torchaudio's ``wavlm_large`` builder:
    # the Large layout plus relative position buckets.
    "wavlm_large": dict(_LARGE, encoder_num_buckets=320, encoder_max_distance=800, encoder_layer_drop=0.1),
    # CPU-sized encoder (about 4 M parameters); 128 CNN channels: the CNN dominates a tiny model's cost.
    "tiny": dict(
        _COMMON,
        extractor_conv_layer_config=_cnn(128),
        encoder_embed_dim=256,
        encoder_num_layers=4,
        encoder_num_heads=4,
        encoder_ff_interm_features=1024,
    ),
}


def build_architecture(name: str, **overrides: Any) -> Wav2Vec2Model:
    """Build a randomly initialised encoder of a named architecture (kwargs override it)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown upstream architecture '{name}': choose from {sorted(ARCHITECTURES)}")
    unknown = set(overrides) - set(ARCHITECTURES[name])
    if unknown:
        raise ValueError(f"unknown architecture options {sorted(unknown)}")
    return build_model({**ARCHITECTURES[name], **overrides})


def build_model(config: Mapping[str, Any]) -> Wav2Vec2Model:
    """torchaudio's ``wavlm_model`` for a config with WavLM's options, else ``wav2vec2_model``."""
    builder = wavlm_model if WAVLM_KEYS & set(config) else wav2vec2_model
    return builder(**config)
