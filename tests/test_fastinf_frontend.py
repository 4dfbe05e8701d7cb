"""The ssl_upstream frontend with waveform downsampling and with layer removal."""

import pytest
import torch

from espnet2_ext.fastinf.feasibility import encoder_frames
from espnet2_ext.upstream.architectures import ARCHITECTURES
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

# The layer-norm CNN leaves valid frames independent of padding (the group-norm one does not).
ARCH_CONF = {"encoder_num_layers": 2, "extractor_mode": "layer_norm", "encoder_layer_drop": 0.0}
LENGTHS = torch.tensor([16000, 9001, 3203])


def frontend(**options) -> SSLUpstreamFrontend:
    torch.manual_seed(0)
    return SSLUpstreamFrontend(arch="tiny", arch_conf=ARCH_CONF, **options).eval()


def padded(lengths: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(len(lengths), int(lengths.max())) * (torch.arange(int(lengths.max())) < lengths[:, None])


@pytest.mark.parametrize("name", ["sd", "cl", "av"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_lengths_are_the_valid_frames_of_each_utterance_alone(name, factor):
    model = frontend(downsample=name, downsample_factor=factor)
    wave = padded(LENGTHS)
    with torch.no_grad():
        feats, lens = model(wave, LENGTHS)
        for b, n in enumerate(LENGTHS.tolist()):
            alone, alone_len = model(wave[b : b + 1, :n], LENGTHS[b : b + 1])
            assert int(lens[b]) == int(alone_len) == alone.size(1)
            torch.testing.assert_close(feats[b, : int(lens[b])], alone[0], atol=1e-4, rtol=1e-4)
    assert feats.size(1) == int(lens.max())
    cnn = ARCHITECTURES["tiny"]["extractor_conv_layer_config"]
    assert lens.tolist() == encoder_frames(LENGTHS, cnn, model.downsampler).tolist()
    assert int(lens[0]) == {2: 24, 3: 16, 4: 12}[factor]  # 1 s: 49 frames at 50 Hz, then 50/k Hz


def test_frontend_without_downsampling_has_no_downsampler():
    model = frontend()
    assert model.downsampler is None
    assert not any(k.startswith("downsampler") for k in model.state_dict())


def trained(model: SSLUpstreamFrontend) -> set:
    """Names of the parameters that get a gradient from one training step."""
    model.train().zero_grad(set_to_none=True)
    feats, _ = model(torch.randn(2, 8000), torch.tensor([8000, 6000]))
    if feats.requires_grad:
        feats.sum().backward()
    return {n for n, p in model.named_parameters() if p.grad is not None}


def test_cl_trains_through_a_frozen_cnn_and_a_frozen_upstream():
    with_cnn_frozen = trained(frontend(downsample="cl", downsample_factor=2, freeze_cnn=True))
    assert "downsampler.conv.weight" in with_cnn_frozen
    assert not any(n.startswith("upstream.feature_extractor") for n in with_cnn_frozen)
    assert "upstream.encoder.transformer.layers.1.attention.k_proj.weight" in with_cnn_frozen
    probe = trained(frontend(downsample="cl", downsample_factor=2, freeze_all=True, weighted_sum=True))
    assert probe == {"downsampler.conv.weight", "downsampler.conv.bias", "layer_weights"}


def test_cl_waits_with_the_upstream_during_freeze_steps():
    model = frontend(downsample="cl", downsample_factor=2, freeze_steps=1)
    assert trained(model) == set()
    assert "downsampler.conv.weight" in trained(model)


def test_sd_and_av_have_nothing_to_train():
    for name in ("sd", "av"):
        model = frontend(downsample=name, downsample_factor=3, freeze_cnn=True)
        assert not any(n.startswith("downsampler") for n in trained(model))


SMALL_WAVLM = {  # wavlm_large's layout (pre-LN, relative position buckets), small
    "extractor_conv_layer_config": [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
    "encoder_embed_dim": 32, "encoder_num_heads": 2, "encoder_ff_interm_features": 64,
    "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 2,
}


@pytest.mark.parametrize("arch,pre_ln,conf", [
    ("tiny", False, {}),
    ("tiny", True, {"encoder_layer_norm_first": True}),
    ("wavlm_large", True, SMALL_WAVLM),
], ids=["post_ln", "pre_ln", "wavlm"])
def test_keep_layers_keeps_the_first_layers_and_their_output(arch, pre_ln, conf):
    conf = {**conf, "encoder_num_layers": 4, "encoder_layer_drop": 0.0}
    torch.manual_seed(0)
    full = SSLUpstreamFrontend(arch=arch, arch_conf=conf).eval()
    torch.manual_seed(0)
    cut = SSLUpstreamFrontend(arch=arch, arch_conf=conf, keep_layers=2).eval()
    full_state, cut_state = full.state_dict(), cut.state_dict()
    assert set(cut_state) == {k for k in full_state if not k.startswith(
        ("upstream.encoder.transformer.layers.2.", "upstream.encoder.transformer.layers.3."))}
    for key, value in cut_state.items():
        torch.testing.assert_close(value, full_state[key], rtol=0, atol=0)
    assert len(cut.upstream.encoder.transformer.layers) == 2
    assert sum(p.numel() for p in cut.parameters()) < sum(p.numel() for p in full.parameters())
    wave, lengths = padded(LENGTHS), LENGTHS
    with torch.no_grad():
        full.num_layers_run = 2  # layer 2 of the full model, without its top-of-model LayerNorm
        expected, expected_lens = full(wave, lengths)
        got, lens = cut(wave, lengths)
    if pre_ln:  # its final LayerNorm now normalises layer 2, as in the paper's cut model
        expected = full.upstream.encoder.transformer.layer_norm(expected)
    assert lens.tolist() == expected_lens.tolist()
    torch.testing.assert_close(got, expected)


def test_keep_layers_bounds_and_what_layer_then_means():
    with pytest.raises(ValueError, match="keep_layers=3 is out of range for 2 layers"):
        frontend(keep_layers=3)
    with pytest.raises(ValueError, match="layer=1 is out of range"):
        frontend(keep_layers=1, layer=1)
    assert frontend(keep_layers=1, weighted_sum=True).layer_weights.shape == (1,)
