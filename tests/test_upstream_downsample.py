"""Waveform downsamplers (SD, CL, AV): exact lengths, batch padding, short inputs, CL's start."""

import math

import pytest
import torch
import torchaudio
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask

from espnet2_ext.audio import valid_samples
from espnet2_ext.upstream.downsample import (
    AvgPoolDownsampler,
    ConvDownsampler,
    SignalDownsampler,
    build_downsampler,
)

FACTORS = (2, 3, 4)
LENGTHS = (161, 162, 163, 999, 1000, 1001, 1002, 16000, 16001)


def by_hand(name: str, factor: int, length: int) -> int:
    """The length formulas of espnet2_ext/upstream/README.md, § Downsampling, with the paper's kernels."""
    if name == "sd":
        return math.ceil(length / factor)
    if name == "cl":
        return (length - 161) // factor + 1
    kernel = 10 if factor <= 3 else 12
    return (length + 2 * 2 - kernel) // factor + 1


@pytest.mark.parametrize("name", ["sd", "cl", "av"])
@pytest.mark.parametrize("factor", FACTORS)
def test_length_formula_is_the_actual_output_length(name, factor):
    down = build_downsampler(name, factor)
    for length in LENGTHS:
        out, out_len = down(torch.randn(1, length), torch.tensor([length]))
        assert out.shape == (1, by_hand(name, factor, length)) == (1, int(out_len)), (name, factor, length)


@pytest.mark.parametrize("factor", [2, 4])
def test_sd_is_the_papers_16k_to_16k_over_k_resampling(factor):
    wave = torch.randn(2, 8001)
    out, _ = SignalDownsampler(factor)(wave, torch.tensor([8001, 8001]))
    torch.testing.assert_close(out, torchaudio.functional.resample(wave, 16000, 16000 // factor))


@pytest.mark.parametrize("name", ["sd", "cl", "av"])
@pytest.mark.parametrize("factor", FACTORS)
def test_padded_batch_gives_each_utterance_what_it_gives_alone(name, factor):
    torch.manual_seed(0)
    down = build_downsampler(name, factor)
    lengths = torch.tensor([4001, 2500, 1163])
    waves = [torch.randn(1, int(n)) for n in lengths]
    batch = torch.randn(3, 4001) * 10  # garbage padding must not leak into valid samples
    for b, wave in enumerate(waves):
        batch[b, : wave.size(1)] = wave[0]
    out, out_lens = down(batch, lengths)
    for b, wave in enumerate(waves):
        alone, alone_len = down(wave, lengths[b : b + 1])
        assert int(out_lens[b]) == int(alone_len) == alone.size(1)
        torch.testing.assert_close(out[b, : int(out_lens[b])], alone[0], atol=1e-5, rtol=1e-5)
        assert not out[b, int(out_lens[b]) :].any()  # padding stays zero


def test_inputs_shorter_than_the_kernel_are_refused_by_name():
    ConvDownsampler(3)(torch.randn(1, 161), torch.tensor([161]))  # exactly one output sample
    with pytest.raises(ValueError, match="160 samples is shorter than the 161 samples"):
        ConvDownsampler(3)(torch.randn(2, 400), torch.tensor([400, 160]))
    with pytest.raises(ValueError, match="shorter than the 8 samples"):
        AvgPoolDownsampler(4)(torch.randn(1, 7), torch.tensor([7]))  # kernel 12 - 2 * padding 2


def tone_gain(down: ConvDownsampler, hz: float) -> float:
    wave = torch.sin(2 * math.pi * hz * torch.arange(16000) / 16000)[None]
    with torch.no_grad():
        out, _ = down(wave, torch.tensor([16000]))
    return float(out[0, 200:-200].abs().max())  # away from the edges


@pytest.mark.parametrize("factor", FACTORS)
def test_untrained_cl_is_an_anti_aliasing_low_pass(factor):
    down = ConvDownsampler(factor)
    assert tone_gain(down, 300) == pytest.approx(1.0, abs=0.01)  # speech band passes
    assert tone_gain(down, 16000 / factor * 0.75) < 0.01  # above the new Nyquist: removed
    assert down.conv.weight.requires_grad and down.conv.weight.shape == (1, 1, 161)


def test_options_and_their_errors():
    assert [AvgPoolDownsampler(k).pool.kernel_size[0] for k in FACTORS] == [10, 10, 12]
    assert ConvDownsampler(2, kernel_size=81).output_lengths(torch.tensor([1000])).item() == 460
    assert build_downsampler(None, None) is None
    with pytest.raises(ValueError, match="without downsample"):
        build_downsampler(None, 3)
    with pytest.raises(ValueError, match="needs downsample_factor"):
        build_downsampler("cl", None)
    with pytest.raises(ValueError, match="unknown downsample 'xx'"):
        build_downsampler("xx", 2)
    with pytest.raises(ValueError, match=">= 2"):
        build_downsampler("sd", 1)
    with pytest.raises(ValueError, match="would skip samples"):
        build_downsampler("av", 6, {"kernel_size": 4})


def test_the_padding_mask_is_linear_in_the_audio_length():
    """valid_samples is ESPnet's ~make_pad_mask without its (maxlen + 1)^2 matrix, which for the
    minute of padded audio below would need 3.7 TB: the downsampler pads and masks it at once."""
    lengths = torch.tensor([3, 1, 4])
    assert torch.equal(valid_samples(lengths, 5), ~make_pad_mask(lengths, maxlen=5))
    minute = 60 * 16000
    out, out_len = build_downsampler("av", 3)(torch.randn(2, minute), torch.tensor([minute, minute // 2]))
    assert out.shape[1] == int(out_len[0]) and not out[1, int(out_len[1]):].any()
