"""CTC output upsampling (Zaiem et al. 2023, espnet2_ext/fastinf/README.md): r CTC frames per encoder frame.

At 50/k frames per second, CTC cannot align transcripts that need more frames than the encoder
gives (see ``feasibility``). The paper's CTC layer emits r x vocab logits per frame, read as r
frames. ESPnet builds its CTC layer itself (no registry), so the same function comes here as a
post-encoder: Linear(D, r*D) read as r frames of D, which ESPnet's CTC layer maps to the
vocabulary. Two affine maps in a row are one, so this is the paper's r x vocab layer, factored.
"""

from typing import Tuple

import torch
from espnet2.asr.postencoder.abs_postencoder import AbsPostEncoder
from typeguard import typechecked


class CTCUpsampler(AbsPostEncoder):
    """(B, T, D) encoder output to (B, T*r, D), lengths times r.

    It starts as r stacked identities, so an untrained upsampler repeats each frame r times and
    training learns what differs between the r sub-frames.
    """

    @typechecked
    def __init__(self, input_size: int, factor: int = 2):
        super().__init__()
        if factor < 2:
            raise ValueError(f"upsampling factor must be >= 2, got {factor}")
        self.factor = factor
        self.proj = torch.nn.Linear(input_size, factor * input_size)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(input_size).repeat(factor, 1))
            self.proj.bias.zero_()

    def output_size(self) -> int:
        return self.proj.in_features

    def forward(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        batch, frames, dim = input.shape
        return self.proj(input).reshape(batch, frames * self.factor, dim), input_lengths * self.factor
