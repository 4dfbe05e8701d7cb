"""Run an upstream's transformer layer by layer, with padding masks, yielding each layer's output;
and remove its top layers.

torchaudio's own ``extract_features`` passes a 4-D attention mask that its WavLM layers reject
(they take a key padding mask instead), and it skips layer drop and the final LayerNorm of
pre-LN models; this loop handles all three for wav2vec 2.0, HuBERT and WavLM alike. It uses the
``_preprocess`` steps of torchaudio's ``Encoder``/``Transformer`` (torchaudio is pinned).
"""

import itertools
from typing import Iterator, List

import torch
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask
from torchaudio.models import Wav2Vec2Model
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention


def iter_layer_outputs(
    upstream: Wav2Vec2Model, features: torch.Tensor, lengths: torch.Tensor
) -> Iterator[torch.Tensor]:
    """Outputs of transformer layers 1, 2, ... for CNN ``features`` (B, T, C), computed lazily:
    a layer runs only when its output is asked for, so a consumer that stops early (layer
    selection, early exit) never runs the layers above.

    The outputs equal transformers' ``hidden_states[1:]``; a pre-LN model's final LayerNorm is
    applied to the top layer's output (transformers' ``last_hidden_state``). Padded frames do
    not influence valid ones (masked attention).
    """
    encoder = upstream.encoder
    transformer = encoder.transformer
    pad = make_pad_mask(lengths, maxlen=features.size(1)).to(features.device)
    x = encoder.feature_projection(features).masked_fill(pad[..., None], 0.0)
    x = transformer._preprocess(x)  # positional convolution (+ LayerNorm of post-LN models), dropout
    if isinstance(transformer.layers[0].attention, WavLMSelfAttention):
        mask_kwargs = {"key_padding_mask": pad}
    else:
        mask = -10000.0 * pad[:, None, None, :].to(x.dtype)
        mask_kwargs = {"attention_mask": mask.expand(-1, 1, x.size(1), -1)}
    position_bias = None  # WavLM's relative position bias, computed by its first layer
    top = len(transformer.layers) - 1
    for index, layer in enumerate(transformer.layers):
        if not (transformer.training and torch.rand(1).item() < transformer.layer_drop):
            x, position_bias = layer(x, position_bias=position_bias, **mask_kwargs)
        # torchaudio's Transformer.layer_norm_first is False for pre-LN models (inverted flag).
        yield transformer.layer_norm(x) if index == top and not transformer.layer_norm_first else x


def layer_outputs(
    upstream: Wav2Vec2Model, features: torch.Tensor, lengths: torch.Tensor, num_layers: int
) -> List[torch.Tensor]:
    """The first ``num_layers`` outputs of ``iter_layer_outputs``."""
    return list(itertools.islice(iter_layer_outputs(upstream, features, lengths), num_layers))


def keep_first_layers(upstream: Wav2Vec2Model, num_layers: int) -> None:
    """Layer removal (Zaiem et al. 2023; ``keep_layers``): delete the transformer layers above the first ``num_layers``, before fine-tuning.

    They leave the model, so its parameters and state dict. A pre-LN model (wav2vec 2.0 Large,
    WavLM) keeps its final LayerNorm, which then normalises layer N's output, as the paper's cut
    transformers model does.
    """
    transformer = upstream.encoder.transformer
    if not 1 <= num_layers <= len(transformer.layers):
        raise ValueError(f"keep_layers={num_layers} is out of range for {len(transformer.layers)} layers")
    transformer.layers = transformer.layers[:num_layers]
