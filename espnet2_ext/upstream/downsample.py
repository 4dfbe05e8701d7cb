"""Waveform downsampling before the SSL upstream (Zaiem et al. 2023; espnet2_ext/upstream/README.md,
§ Downsampling).

The upstream's CNN and transformer then see k times fewer samples and frames (50/k Hz). ESPnet
works with absolute lengths, so each downsampler maps them exactly, and it zeroes a batch's
padding before and after, so that a padded utterance gives the samples it gives alone.
"""

from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple

import torch
import torchaudio

from espnet2_ext.audio import valid_samples


def _valid(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``wave`` with every sample at or beyond its utterance's length set to zero."""
    return wave * valid_samples(lengths.to(wave.device), wave.size(1)).to(wave.dtype)


def lowpass_kernel(kernel_size: int, cutoff: float) -> torch.Tensor:
    """Hann-windowed sinc low-pass (``cutoff`` in cycles per sample), unit gain at 0 Hz."""
    t = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    taps = torch.sinc(2 * cutoff * t) * torch.hann_window(kernel_size, periodic=False, dtype=torch.float64)
    return (taps / taps.sum()).float()


class Downsampler(torch.nn.Module, ABC):
    """(batch, samples) waveforms and lengths to k times fewer samples and their lengths."""

    def __init__(self, factor: int, min_length: int):
        super().__init__()
        if factor < 2:
            raise ValueError(f"downsampling factor must be an integer >= 2, got {factor}")
        self.factor = factor
        self.min_length = min_length  # the shortest input that gives one output sample

    @abstractmethod
    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Exact number of output samples of utterances of ``lengths`` input samples."""

    @abstractmethod
    def downsample(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) to (batch, output samples of the longest)."""

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        shortest = int(lengths.min())
        if shortest < self.min_length:
            raise ValueError(
                f"an utterance of {shortest} samples is shorter than the {self.min_length} samples that "
                f"{type(self).__name__} x{self.factor} needs (drop it, e.g. with --min_wav_duration)"
            )
        out_lengths = self.output_lengths(lengths)
        return _valid(self.downsample(_valid(wave, lengths)), out_lengths), out_lengths


class SignalDownsampler(Downsampler):
    """SD: sinc resampling (torchaudio) to 1/k of the rate; the upstream reads it as 16 kHz audio.

    The paper resamples 16000 -> int(16000/k) Hz. torchaudio reduces that ratio to k:1 for k = 2
    and 4, which is what this computes. For k = 3, 5333 Hz shares no divisor with 16000, so
    torchaudio would build a 5333 x 16038 kernel (seconds per utterance on a CPU core);
    the exact 3:1 ratio (5333.3 Hz, 0.006 % apart) gives the same filter with 41 taps.
    """

    def __init__(self, factor: int):
        super().__init__(factor, min_length=1)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths + self.factor - 1, self.factor, rounding_mode="floor")  # ceil(L/k)

    def downsample(self, wave: torch.Tensor) -> torch.Tensor:
        return torchaudio.functional.resample(wave, self.factor, 1)


class ConvDownsampler(Downsampler):
    """CL: a learned Conv1d(1, 1, kernel, stride k) without padding, trained with the task.

    The paper starts it from PyTorch's random initialisation. It starts here as an anti-aliasing
    low-pass at the new Nyquist frequency (a windowed sinc, zero bias), so that an untrained model
    sees about what SD gives it rather than a random filtering of the waveform.
    """

    def __init__(self, factor: int, kernel_size: int = 161):
        if kernel_size < factor:
            raise ValueError(f"kernel_size {kernel_size} < factor {factor} would skip samples")
        super().__init__(factor, min_length=kernel_size)
        self.conv = torch.nn.Conv1d(1, 1, kernel_size, stride=factor)
        with torch.no_grad():
            self.conv.weight.copy_(lowpass_kernel(kernel_size, 0.5 / factor).view(1, 1, -1))
            self.conv.bias.zero_()

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        kernel = self.conv.kernel_size[0]
        return torch.div(lengths - kernel, self.factor, rounding_mode="floor") + 1

    def downsample(self, wave: torch.Tensor) -> torch.Tensor:
        return self.conv(wave[:, None])[:, 0]


class AvgPoolDownsampler(Downsampler):
    """AV: AvgPool1d(kernel, stride k, padding p), the zero padding counted in the mean as in the
    paper's SpeechBrain pooling. Default kernel 10 for k <= 3 and 12 above, padding 2 (paper)."""

    def __init__(self, factor: int, kernel_size: Optional[int] = None, padding: int = 2):
        kernel_size = kernel_size or (10 if factor <= 3 else 12)
        if kernel_size < factor:
            raise ValueError(f"kernel_size {kernel_size} < factor {factor} would skip samples")
        super().__init__(factor, min_length=max(kernel_size - 2 * padding, 1))
        self.pool = torch.nn.AvgPool1d(kernel_size, stride=factor, padding=padding)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        kernel, padding = self.pool.kernel_size[0], self.pool.padding[0]
        return torch.div(lengths + 2 * padding - kernel, self.factor, rounding_mode="floor") + 1

    def downsample(self, wave: torch.Tensor) -> torch.Tensor:
        return self.pool(wave[:, None])[:, 0]


DOWNSAMPLERS = {"sd": SignalDownsampler, "cl": ConvDownsampler, "av": AvgPoolDownsampler}


def build_downsampler(
    name: Optional[str], factor: Optional[int], conf: Optional[Dict[str, Any]] = None
) -> Optional[Downsampler]:
    """The downsampler ``name`` (sd|cl|av) of ``factor`` with options ``conf``; None for none."""
    if name is None:
        if factor is not None or conf:
            raise ValueError("downsample_factor/downsample_conf given without downsample: sd|cl|av")
        return None
    if name not in DOWNSAMPLERS:
        raise ValueError(f"unknown downsample '{name}': choose from {sorted(DOWNSAMPLERS)}")
    if factor is None:
        raise ValueError(f"downsample: {name} needs downsample_factor")
    return DOWNSAMPLERS[name](factor, **(conf or {}))
