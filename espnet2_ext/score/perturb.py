"""SCORE's perturbed view of an utterance (Meghanani & Hain 2024): speed, then pitch, no gradient.

As in the official code (dataset.py): one speed factor drawn uniformly from (0.9, 1.0, 1.1) for
HuBERT, (0.85, 0.9, 1.0, 1.1, 1.15) for WavLM, applied as torchaudio's SpeedPerturbation does
(resampling: tempo and pitch change together); then a shift of -2 or +2 semitones (p = 0.5 each,
always applied) as torchaudio's PitchShift does with its defaults (n_fft 512, hop 128, Hann).
Pitch shifting is a phase vocoder (STFT, stretch, ISTFT, resample): slow-ish, run without
gradient, since the perturbed view is an input, not a function of parameters.

One deviation, in cost only: torchaudio resamples the stretched signal from int(fs * 2**(n/12))
to fs Hz. For +2 semitones at 16 kHz that is 17959 -> 16000 (gcd 1), a 16000 x 17973 sinc kernel
rebuilt on every call: 7.7 s CPU and 5.3 GB for a 1 s utterance. Here the ratio is the nearest
fraction with denominator <= 100 (55/49), closer to 2**(1/6) than torchaudio's (1.2e-5 against
2.2e-5 relative) and a 49 x 69 kernel. Everything else is torchaudio's code path.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

N_FFT, HOP = 512, 128  # torchaudio PitchShift defaults (win_length = n_fft, hop = n_fft // 4)
_MAX_DENOMINATOR = 100


@dataclass(frozen=True)
class Perturbation:
    speed: float
    semitones: int


def draw(generator: torch.Generator, speeds: Sequence[float] = (0.9, 1.0, 1.1),
         semitones: Sequence[int] = (-2, 2)) -> Perturbation:
    """One speed and one shift, each uniform over its set, from ``generator`` only (a CPU one)."""
    i = int(torch.randint(len(speeds), (1,), generator=generator))
    j = int(torch.randint(len(semitones), (1,), generator=generator))
    return Perturbation(float(speeds[i]), int(semitones[j]))


def _shift_pitch(wave: torch.Tensor, semitones: int, ratio: Fraction) -> torch.Tensor:
    """torchaudio.functional.pitch_shift of a 1-D wave, its last resampling done at ``ratio``."""
    rate = 2.0 ** (-semitones / 12)
    window = torch.hann_window(N_FFT, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave, N_FFT, HOP, window=window, center=True, pad_mode="reflect", return_complex=True)
    advance = torch.linspace(0, math.pi * HOP, spec.shape[-2], device=wave.device)[:, None]
    stretched = torch.istft(AF.phase_vocoder(spec, rate, advance), N_FFT, HOP, window=window,
                            length=round(len(wave) / rate))
    shifted = AF.resample(stretched, ratio.numerator, ratio.denominator)
    return F.pad(shifted, (0, max(0, len(wave) - len(shifted))))[:len(wave)]


def perturb(wave: torch.Tensor, perturbation: Perturbation, sample_rate: int = 16000) -> torch.Tensor:
    """One unpadded 1-D utterance -> its perturbed 1-D view, about len / speed samples long."""
    if wave.dim() != 1:
        raise ValueError(f"perturb expects one 1-D utterance: {tuple(wave.shape)}")
    with torch.no_grad():
        out, _ = AF.speed(wave.detach(), sample_rate, perturbation.speed)
        if perturbation.semitones != 0:
            ratio = Fraction(2.0 ** (perturbation.semitones / 12)).limit_denominator(_MAX_DENOMINATOR)
            out = _shift_pitch(out, perturbation.semitones, ratio)
    return out


def perturb_batch(speech: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator,
                  speeds: Sequence[float] = (0.9, 1.0, 1.1), semitones: Sequence[int] = (-2, 2),
                  sample_rate: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded (B, T) with lengths (B,) -> perturbed (B, T') and lengths, zero padded.

    Each item is perturbed on its own valid samples (padding would otherwise leak into the
    resampling and STFT) with its own draw, taken in batch order from ``generator``.
    """
    items = [perturb(speech[b, :n], draw(generator, speeds, semitones), sample_rate)
             for b, n in enumerate(lengths.tolist())]
    new_lengths = [len(x) for x in items]
    out = speech.new_zeros(len(items), max(new_lengths, default=0))
    for b, x in enumerate(items):
        out[b, :len(x)] = x
    return out, torch.tensor(new_lengths, dtype=lengths.dtype, device=lengths.device)
