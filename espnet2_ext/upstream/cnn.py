"""The upstream's waveform CNN with padding-aware GroupNorm statistics.

HuBERT Base and wav2vec 2.0 Base (``extractor_mode: group_norm``) normalise each channel of the
first CNN layer over the whole time axis of the batch tensor, padding included, as fairseq and
torchaudio do: a segment's features then depend on how much longer its batch-mates are. Every
other part of the upstream ignores padding (the later CNN layers' valid frames never reach past
an item's own samples, and the transformer zeroes padded frames and masks them in attention), so
computing these statistics over each item's valid frames only makes the valid frames exactly what
the segment alone gives. Batches that pad a lot (context-aware mode b's recording batches,
30 % padding against numel's 1 %) need this to be comparable with length-sorted ones. Written by
hand: torchaudio's ``ConvLayerBlock`` has no lengths-aware normalisation.
"""

from typing import Tuple

import torch
from torchaudio.models.wav2vec2.components import ConvLayerBlock, FeatureExtractor


def masked_group_norm(x: torch.Tensor, lengths: torch.Tensor, norm: torch.nn.GroupNorm) -> torch.Tensor:
    """``norm`` applied to each item of (B, C, T) ``x`` over its first ``lengths`` frames only;
    padded frames are zero (nothing valid reads them). One GroupNorm call per item: on CPU this
    costs about twice one batched GroupNorm, where masked batch statistics cost about 14 times."""
    out = torch.zeros_like(x)
    for item, length in enumerate(lengths.tolist()):
        out[item, :, :length] = norm(x[item : item + 1, :, :length])[0]
    return out


def padding_aware_features(
    extractor: FeatureExtractor, wave: torch.Tensor, lengths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """torchaudio's ``FeatureExtractor.forward`` (B, T) -> (B, frames, C), with ``masked_group_norm``
    in place of every GroupNorm; other blocks run unchanged."""
    x = wave.unsqueeze(1)
    for block in extractor.conv_layers:
        if isinstance(block.layer_norm, torch.nn.GroupNorm):
            x, lengths = _masked_block(block, x, lengths)
        else:
            x, lengths = block(x, lengths)
    return x.transpose(1, 2), lengths


def _masked_block(block: ConvLayerBlock, x: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``ConvLayerBlock.forward`` with the GroupNorm over valid frames (same length formula)."""
    lengths = torch.div(lengths - block.kernel_size, block.stride, rounding_mode="floor") + 1
    lengths = lengths.clamp(min=0)
    x = masked_group_norm(block.conv(x), lengths, block.layer_norm)
    return torch.nn.functional.gelu(x), lengths
