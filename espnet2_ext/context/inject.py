"""``--frontend ssl_upstream_inject``: the context-injection baseline (espnet2_ext/context/README.md).

The upstream runs on the neighbours' audio and the segment's, concatenated, and only the frames
of the segment go on to the head (CTC, or pooling for classification). The input is ESPnet's
``speech`` with two channels, so that every stock program (training, statistics, decoding) can
feed it from a ``sound`` scp: channel 0 is the concatenated audio, channel 1 is 1 on the
segment's samples and 0 elsewhere (written by ``espnet2_ext.context.data``). A one-channel
input is a segment without context.

Which frames are the segment's: frame f of the CNN covers samples [S f, S f + R) (HuBERT/wav2vec
2.0: stride S = 320, receptive field R = 400), its centre is S f + R // 2. For a segment of n
samples starting at sample s, the frames are the N = cnn_frames(n) frames starting at the first
one whose centre lies at or after s, i.e. f0 = ceil((s - R // 2) / S), so the head sees as many
frames as for the segment alone. All N centres lie inside the segment (the last is below
s + n - (R - S)); a last frame whose centre is also inside is dropped when N is one short of the
count of centres. When s is a multiple of S (the data prep trims the left context so), frame f0
covers exactly the samples of the segment alone's first frame. If the segment ends the
concatenation and f0 + N would pass its last frame, f0 moves back to fit.
"""

from typing import List, Sequence, Tuple, Union

import numpy as np
import torch

from espnet2_ext.context import DEFAULT_OFFSETS, neighbour_key
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

Layers = Sequence[Tuple[int, int]]


def cnn_layers(upstream: torch.nn.Module) -> List[Tuple[int, int]]:
    """(kernel, stride) of each layer of a torchaudio wav2vec 2.0 feature extractor."""
    return [(block.conv.kernel_size[0], block.conv.stride[0]) for block in upstream.feature_extractor.conv_layers]


def cnn_frames(num_samples: torch.Tensor, layers: Layers) -> torch.Tensor:
    """Frames the CNN gives for ``num_samples`` samples (torchaudio's per-layer formula)."""
    for kernel, stride in layers:
        num_samples = torch.clamp(torch.div(num_samples - kernel, stride, rounding_mode="floor") + 1, min=0)
    return num_samples


def receptive_field(layers: Layers) -> Tuple[int, int]:
    """(receptive field R, total stride S) in samples: frame f covers [S f, S f + R)."""
    size, stride = 1, 1
    for kernel, layer_stride in layers:
        size += (kernel - 1) * stride
        stride *= layer_stride
    return size, stride


def segment_span(inside: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(start, length) in samples of the single run of True in each row of (B, L) ``inside``."""
    count = inside.sum(1)
    start = inside.int().argmax(1)
    last = inside.size(1) - 1 - inside.flip(1).int().argmax(1)
    if bool((count == 0).any()) or bool((last - start + 1 != count).any()):
        raise ValueError("the segment channel must mark one contiguous, non-empty run of samples")
    return start, count


def segment_frames(
    start: torch.Tensor, length: torch.Tensor, total_frames: torch.Tensor, layers: Layers
) -> Tuple[torch.Tensor, torch.Tensor]:
    """(first frame, number of frames) of the segment [start, start + length) (see module doc)."""
    size, stride = receptive_field(layers)
    num = torch.minimum(cnn_frames(length, layers), total_frames)
    first = torch.div(start - size // 2 + stride - 1, stride, rounding_mode="floor").clamp(min=0)
    return torch.minimum(first, total_frames - num), num


def slice_frames(frames: torch.Tensor, first: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
    """Frames first[b] .. first[b] + num[b] - 1 of each frames[b], zero-padded to max(num)."""
    steps = torch.arange(int(num.max()), device=frames.device)
    index = (first[:, None] + steps[None, :]).clamp(max=frames.size(1) - 1)
    out = torch.gather(frames, 1, index[..., None].expand(-1, -1, frames.size(2)))
    return out * (steps[None, :] < num[:, None])[..., None].to(out.dtype)


def segment_num_samples(speech: Union[np.ndarray, torch.Tensor]) -> int:
    """Samples of the segment in one utterance's input: (L,) audio, or (L, 2) audio + segment mask."""
    if speech.ndim == 2 and speech.shape[1] == 2 and speech.shape[0] > 2:
        return int((speech[:, 1] > 0.5).sum())
    return int(speech.shape[-1])


class InjectedContextFrontend(SSLUpstreamFrontend):
    """``SSLUpstreamFrontend`` (same options) over segment + context, sliced to the segment.

    Args:
        context_offsets: The neighbours the data were built with (default [-1, 1]: previous and
            next; [-1]: previous only; a contiguous window). Read by the data prep
            (``espnet2_ext.context.data``) and kept in the model's config; the frontend
            itself finds the segment from the input's second channel.
        **kwargs: ``SSLUpstreamFrontend`` options.
    """

    def __init__(self, context_offsets: Sequence[int] = DEFAULT_OFFSETS, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.downsampler is not None:  # it would move the segment off the CNN's sample grid
            raise ValueError("ssl_upstream_inject does not support waveform downsampling")
        for offset in context_offsets:
            neighbour_key(offset)  # validates the offset
        self.context_offsets = list(context_offsets)
        self.layers = cnn_layers(self.upstream)

    @staticmethod
    def num_audio_samples(speech: Union[np.ndarray, torch.Tensor]) -> int:
        """The segment's samples in one utterance's input: what decoding time and MACs are
        counted per (``espnet2_ext.audio.audio_samples``)."""
        return segment_num_samples(speech)

    def forward_with_top_layer(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``SSLUpstreamFrontend.forward_with_top_layer`` (``forward`` too), both outputs sliced."""
        if input.dim() == 2:
            return super().forward_with_top_layer(input, input_lengths)
        start, length = segment_span(input[..., 1] > 0.5)
        frames, frame_lengths, top = super().forward_with_top_layer(input[..., 0].contiguous(), input_lengths)
        first, num = segment_frames(start, length, frame_lengths, self.layers)
        return slice_frames(frames, first, num), num, slice_frames(top, first, num)
