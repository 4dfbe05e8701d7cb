"""Context injection: which frames of the concatenation belong to the segment."""

import numpy as np
import pytest
import torch
from context_tiny import TINY_FRONTEND

from espnet2_ext.context.inject import (
    InjectedContextFrontend, cnn_frames, receptive_field, segment_frames, segment_num_samples, segment_span,
    slice_frames,
)
from espnet2_ext.upstream.architectures import build_architecture
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

HUBERT_CNN = [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2


def test_hubert_cnn_geometry_and_length_formula():
    assert receptive_field(HUBERT_CNN) == (400, 320)
    assert cnn_frames(torch.tensor([399, 400, 719, 720, 16000]), HUBERT_CNN).tolist() == [0, 1, 1, 2, 49]


@pytest.mark.parametrize(
    "start, length, total, expected",
    [
        (640, 3200, 20, (2, 9)),  # on the grid: the segment alone's first window, [640, 1040)
        (700, 3200, 20, (2, 9)),  # frame 1's centre (520) is before 700, frame 2's (840) inside
        (500, 3200, 20, (1, 9)),  # frame 1's centre (520) is inside
        (0, 720, 2, (0, 2)),  # no left context
        (250, 3650, 11, (0, 11)),  # ends the input: frame 1 + 11 frames would pass the end
    ],
)
def test_segment_frames(start, length, total, expected):
    first, num = segment_frames(torch.tensor([start]), torch.tensor([length]), torch.tensor([total]), HUBERT_CNN)
    assert (first.item(), num.item()) == expected


def test_every_chosen_frame_has_its_centre_inside_the_segment():
    for start in range(0, 960, 37):
        for length in (400, 719, 720, 3333, 8000):
            total = cnn_frames(torch.tensor([start + length + 5000]), HUBERT_CNN)
            first, num = segment_frames(torch.tensor([start]), torch.tensor([length]), total, HUBERT_CNN)
            centres = 320 * (first + torch.arange(int(num))) + 200
            assert num.item() == cnn_frames(torch.tensor([length]), HUBERT_CNN).item()
            assert bool(((centres >= start) & (centres < start + length)).all())


def test_on_the_grid_the_cnn_frames_equal_those_of_the_segment_alone():
    # layer_norm CNN (no normalisation over time): a frame depends on its 400 samples only.
    cnn = build_architecture("tiny", extractor_mode="layer_norm").feature_extractor.eval()
    torch.manual_seed(0)
    segment, left, right = torch.randn(1, 5000), torch.randn(1, 640), torch.randn(1, 777)
    whole = torch.cat([left, segment, right], dim=1)
    with torch.no_grad():
        alone, alone_len = cnn(segment, torch.tensor([5000]))
        inside, inside_len = cnn(whole, torch.tensor([whole.size(1)]))
    first, num = segment_frames(torch.tensor([640]), torch.tensor([5000]), inside_len, HUBERT_CNN)
    assert num.item() == alone_len.item()
    assert torch.allclose(slice_frames(inside, first, num), alone, atol=1e-5)


def test_slice_frames_pads_with_zeros():
    frames = torch.arange(6.0).repeat(2, 1)[..., None]  # frame f holds f
    out = slice_frames(frames, torch.tensor([1, 4]), torch.tensor([3, 2]))
    assert out.squeeze(-1).tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 0.0]]


def test_segment_span_needs_one_contiguous_run():
    inside = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    start, length = segment_span(inside)
    assert start.tolist() == [1, 0] and length.tolist() == [3, 2]
    for bad in ([[0, 1, 0, 1, 0]], [[0, 0, 0, 0, 0]]):
        with pytest.raises(ValueError, match="contiguous"):
            segment_span(torch.tensor(bad, dtype=torch.bool))


def test_segment_num_samples_counts_the_segment_of_an_injected_input():
    assert segment_num_samples(np.zeros(16000)) == 16000
    assert segment_num_samples(np.zeros((1, 8000))) == 8000
    injected = np.zeros((1000, 2))
    injected[300:700, 1] = 0.99997  # a 16-bit flac's 1.0
    assert segment_num_samples(injected) == 400


def test_frontend_slices_the_segment_from_context_and_passes_plain_audio_through():
    torch.manual_seed(0)
    frontend = InjectedContextFrontend(**TINY_FRONTEND, context_offsets=[-1, 1]).eval()
    audio = torch.randn(2, 9000)
    lengths = torch.tensor([9000, 7000])
    mask = torch.zeros(2, 9000)
    mask[0, 640:6640] = 1.0  # previous, segment, next
    mask[1, 0:4000] = 1.0  # segment, next (no previous)
    with torch.no_grad():
        whole, _ = SSLUpstreamFrontend.forward(frontend, audio, lengths)
        feats, feats_len = frontend(torch.stack([audio, mask], dim=-1), lengths)
        plain = frontend(audio, lengths)
    assert feats_len.tolist() == cnn_frames(torch.tensor([6000, 4000]), HUBERT_CNN).tolist()
    assert torch.allclose(feats[0], whole[0, 2:20])
    assert torch.allclose(feats[1, :12], whole[1, 0:12]) and feats[1, 12:].abs().sum() == 0
    assert torch.allclose(plain[0], whole)


def test_frontend_refuses_waveform_downsampling():
    with pytest.raises(ValueError, match="downsampling"):
        InjectedContextFrontend(**TINY_FRONTEND, downsample="sd", downsample_factor=2)
