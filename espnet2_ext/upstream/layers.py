"""Run an upstream's transformer layer by layer, with padding masks, returning every layer's output.

torchaudio's own ``extract_features`` passes a 4-D attention mask that its WavLM layers reject
(they take a key padding mask instead), and it skips layer drop and the final LayerNorm of
pre-LN models; this loop handles all three for wav2vec 2.0, HuBERT and WavLM alike. It uses the
``_preprocess`` steps of torchaudio's ``Encoder``/``Transformer`` (torchaudio is pinned).
"""

from typing import List

import torch
from torchaudio.models import Wav2Vec2Model
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(batch, max_len) boolean mask, True on padded frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def layer_outputs(
    upstream: Wav2Vec2Model, features: torch.Tensor, lengths: torch.Tensor, num_layers: int
) -> List[torch.Tensor]:
    """Outputs of the first ``num_layers`` transformer layers for CNN ``features`` (B, T, C).

    The outputs equal transformers' ``hidden_states[1:]``; when the model's top layer is
    included, a pre-LN model's final LayerNorm is applied to it (transformers'
    ``last_hidden_state``). Padded frames do not influence valid ones (masked attention).
    """
    encoder = upstream.encoder
    transformer = encoder.transformer
    pad = padding_mask(lengths, features.size(1))
    x = encoder.feature_projection(features).masked_fill(pad[..., None], 0.0)
    x = transformer._preprocess(x)  # positional convolution (+ LayerNorm of post-LN models), dropout
    if isinstance(transformer.layers[0].attention, WavLMSelfAttention):
        mask_kwargs = {"key_padding_mask": pad}
    else:
        mask = -10000.0 * pad[:, None, None, :].to(x.dtype)
        mask_kwargs = {"attention_mask": mask.expand(-1, 1, x.size(1), -1)}
    outputs: List[torch.Tensor] = []
    position_bias = None  # WavLM's relative position bias, computed by its first layer
    for layer in transformer.layers[:num_layers]:
        if not (transformer.training and torch.rand(1).item() < transformer.layer_drop):
            x, position_bias = layer(x, position_bias=position_bias, **mask_kwargs)
        outputs.append(x)
    # torchaudio's Transformer.layer_norm_first is False for pre-LN models (inverted flag).
    if num_layers == len(transformer.layers) and not transformer.layer_norm_first:
        outputs[-1] = transformer.layer_norm(outputs[-1])
    return outputs
