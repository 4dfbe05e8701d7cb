"""SCORE's speed-then-pitch perturbation: lengths, spectral peaks, draws and batching."""

import math
from fractions import Fraction

import pytest
import torch
import torchaudio.functional as AF

from espnet2_ext.score.perturb import Perturbation, _shift_pitch, draw, perturb, perturb_batch

SR = 16000


def sine(freq: float, seconds: float = 1.0, sample_rate: int = SR) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float32) / sample_rate
    return 0.5 * torch.sin(2 * math.pi * freq * t)


def peak_hz(wave: torch.Tensor, sample_rate: int = SR) -> float:
    """Frequency of the largest Hann-windowed FFT bin."""
    spectrum = torch.fft.rfft(wave * torch.hann_window(len(wave), periodic=False)).abs()
    return int(spectrum.argmax()) * sample_rate / len(wave)


@pytest.mark.parametrize("speed", [0.9, 1.1])
@pytest.mark.parametrize("semitones", [-2, 0, 2])
def test_speed_sets_the_length_and_pitch_keeps_it(speed, semitones):
    out = perturb(torch.randn(SR), Perturbation(speed, semitones))
    assert abs(len(out) - SR / speed) <= 2  # 16000 at 1.1 -> 14546


@pytest.mark.parametrize("semitones", [-2, 2])
def test_pitch_shift_moves_a_sine_peak_by_the_semitones(semitones):
    out = perturb(sine(440.0), Perturbation(1.0, semitones))
    assert abs(peak_hz(out) - 440.0 * 2 ** (semitones / 12)) <= 2.0  # bins are 1 Hz wide


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_alone_scales_the_peak_frequency(speed):
    out = perturb(sine(440.0), Perturbation(speed, 0))
    assert abs(peak_hz(out) - 440.0 * speed) <= 2.5  # bins are 1 / (len / SR) ~ 1.1 Hz wide


@pytest.mark.parametrize("semitones", [-2, 2])
def test_pitch_shift_is_torchaudios_given_its_resampling_ratio(semitones):
    # At 1 kHz torchaudio's own ratio int(1000 * 2**(n/12)) / 1000 has a small kernel, so its
    # pitch_shift is cheap to compare with; only the ratio differs at 16 kHz.
    wave = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    ratio = Fraction(int(1000 / 2.0 ** (-semitones / 12)), 1000)
    expected = AF.pitch_shift(wave, 1000, semitones)
    assert torch.allclose(_shift_pitch(wave, semitones, ratio), expected, rtol=0, atol=1e-5)


def test_no_speed_and_no_shift_return_the_signal():
    wave = torch.randn(8000)
    assert torch.equal(perturb(wave, Perturbation(1.0, 0)), wave)


def test_perturb_rejects_a_batch():
    with pytest.raises(ValueError):
        perturb(torch.randn(2, 8000), Perturbation(1.0, 2))


@pytest.mark.parametrize("speeds", [(0.9, 1.0, 1.1), (0.85, 0.9, 1.0, 1.1, 1.15)])
def test_draws_are_seeded_within_the_sets_and_cover_them(speeds):
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a = [draw(g1, speeds) for _ in range(300)]
    assert a == [draw(g2, speeds) for _ in range(300)]
    assert {p.speed for p in a} == set(speeds)
    assert {p.semitones for p in a} == {-2, 2}


def test_draw_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    draw(torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_batch_matches_items_perturbed_alone():
    lengths = torch.tensor([8000, 5000, 6500])
    speech = torch.randn(3, 8000) * 3  # non-zero padding: it must not leak into the result
    speech.requires_grad_()
    out, out_lengths = perturb_batch(speech, lengths, torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    alone = [perturb(speech[b, :n], draw(g)) for b, n in enumerate(lengths.tolist())]
    assert out_lengths.tolist() == [len(x) for x in alone]
    assert out.shape == (3, max(out_lengths.tolist())) and not out.requires_grad
    for b, x in enumerate(alone):
        assert torch.equal(out[b, :len(x)], x)
        assert not out[b, len(x):].any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    wave = torch.randn(8000)
    p = Perturbation(1.1, 2)
    assert torch.allclose(perturb(wave.cuda(), p).cpu(), perturb(wave, p), atol=1e-4)
