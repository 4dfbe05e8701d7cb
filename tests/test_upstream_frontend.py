import pytest
import torch

from espnet2_ext import registration  # noqa: F401
from espnet2_ext.upstream.architectures import build_architecture
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend


def cnn_frames(num_samples: int) -> int:
    """HuBERT's CNN: kernel 10 stride 5, four of kernel 3 stride 2, two of kernel 2 stride 2."""
    n = (num_samples - 10) // 5 + 1
    for kernel in (3, 3, 3, 3, 2, 2):
        n = (n - kernel) // 2 + 1
    return n


@pytest.fixture(scope="module")
def frontend():
    torch.manual_seed(0)
    return SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 2}).eval()


def test_lengths_follow_the_cnn_formula_with_padding(frontend):
    lengths = torch.tensor([16000, 8001, 401])
    wave = torch.randn(3, 16000) * (torch.arange(16000)[None] < lengths[:, None])
    feats, feat_lens = frontend(wave, lengths)
    assert [cnn_frames(n) for n in (16000, 8001, 401)] == [49, 24, 1]
    assert feat_lens.tolist() == [49, 24, 1]
    assert feats.shape == (3, 49, 256)


def alone_and_padded(frontend: SSLUpstreamFrontend) -> tuple:
    """A 0.5 s segment's frames alone and beside a 1 s segment (so half of its row is padding)."""
    torch.manual_seed(0)
    wave = torch.randn(1, 8000)
    with torch.no_grad():
        alone, _ = frontend(wave, torch.tensor([8000]))
        padded = torch.cat([wave, torch.zeros(1, 8000)], dim=1)
        batched, lens = frontend(torch.cat([padded, torch.randn(1, 16000)]), torch.tensor([8000, 16000]))
    return alone[0], batched[0, : lens[0]]


def test_padding_does_not_change_the_valid_frames_with_a_layer_norm_cnn():
    # The layer-norm CNN (wav2vec 2.0 Large, WavLM) and the transformer's attention mask make the
    # valid frames independent of padding.
    torch.manual_seed(0)
    frontend = SSLUpstreamFrontend(
        arch="tiny", arch_conf={"encoder_num_layers": 2, "extractor_mode": "layer_norm"}
    ).eval()
    torch.testing.assert_close(*alone_and_padded(frontend), atol=1e-4, rtol=1e-4)


def test_padding_aware_cnn_makes_a_group_norm_cnn_independent_of_padding():
    # HuBERT-Base's group-norm CNN normalises over the padded time axis too (as fairseq and
    # torchaudio do); padding_aware_cnn takes its statistics over the valid samples only.
    torch.manual_seed(0)
    plain = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 2}).eval()
    alone, batched = alone_and_padded(plain)
    assert (alone - batched).abs().max() > 0.1
    aware = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 2}, padding_aware_cnn=True).eval()
    aware.load_state_dict(plain.state_dict())
    torch.testing.assert_close(*alone_and_padded(aware), atol=1e-5, rtol=1e-5)
    # Without padding it is the plain CNN.
    wave = torch.randn(2, 8000)
    with torch.no_grad():
        torch.testing.assert_close(aware(wave, torch.tensor([8000, 8000]))[0], plain(wave, torch.tensor([8000, 8000]))[0])


def test_layer_selects_an_intermediate_output():
    torch.manual_seed(0)
    full = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 3}).eval()
    wave, lengths = torch.randn(1, 4000), torch.tensor([4000])
    with torch.no_grad():
        expected = full.upstream.extract_features(wave, lengths)[0][0]
        full.num_layers_run = 1
        first, _ = full(wave, lengths)
    torch.testing.assert_close(first, expected)
    with pytest.raises(ValueError, match="out of range"):
        SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 2}, layer=2)


def test_freeze_cnn_keeps_cnn_fixed_and_trains_the_rest():
    frontend = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 1}, freeze_cnn=True)
    feats, _ = frontend(torch.randn(2, 4000), torch.tensor([4000, 3000]))
    feats.sum().backward()
    assert all(p.grad is None for p in frontend.upstream.feature_extractor.parameters())
    assert frontend.upstream.encoder.feature_projection.projection.weight.grad is not None


def test_rejects_wrong_rate_unknown_weights_and_arch():
    with pytest.raises(ValueError, match="16 kHz"):
        SSLUpstreamFrontend(fs=8000)
    with pytest.raises(ValueError, match="hubert.pt: upstream checkpoint not found"):
        SSLUpstreamFrontend(weights="hubert.pt")
    with pytest.raises(ValueError, match="needs an architecture"):
        SSLUpstreamFrontend(weights="random")
    with pytest.raises(ValueError, match="unknown upstream architecture"):
        build_architecture("huge")


def test_named_architectures_have_the_published_sizes():
    base = build_architecture("hubert_base")
    assert sum(p.numel() for p in base.parameters()) == pytest.approx(94.37e6, rel=1e-3)
    tiny = build_architecture("tiny")
    assert sum(p.numel() for p in tiny.parameters()) < 5e6


def test_wavlm_large_is_torchaudios_wavlm_large():
    from torchaudio.models import wavlm_large

    with torch.device("meta"):  # structure only: no 315 M weights to initialise
        ours, reference = build_architecture("wavlm_large"), wavlm_large()
    assert repr(ours) == repr(reference)  # every module, size, norm and bias
    assert sum(p.numel() for p in ours.parameters()) == 315_452_096
    attention = ours.encoder.transformer.layers[0].attention
    assert (attention.num_buckets, attention.max_distance) == (320, 800)
    assert not ours.encoder.transformer.layer_norm_first  # torchaudio's flag for pre-LN models


def test_normalize_waveform_leaves_padding_at_zero():
    frontend = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 1}, normalize_waveform=True)
    from espnet2_ext.upstream.frontend import _normalize

    wave = torch.cat([torch.randn(1, 3000) * 5 + 2, torch.zeros(1, 1000)], dim=1)
    out = _normalize(wave, torch.tensor([3000]))
    assert out[0, 3000:].abs().max() == 0
    assert out[0, :3000].mean().abs() < 1e-4 and (out[0, :3000].std() - 1).abs() < 1e-2
    assert frontend.normalize_waveform


def test_weighted_sum_starts_as_the_mean_of_all_layers_and_learns_its_weights():
    torch.manual_seed(0)
    frontend = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 3}, weighted_sum=True).eval()
    wave, lengths = torch.randn(1, 4000), torch.tensor([4000])
    with torch.no_grad():
        layers = frontend.upstream.extract_features(wave, lengths)[0]
    feats, _ = frontend(wave, lengths)
    torch.testing.assert_close(feats, torch.stack(layers).mean(0))
    feats.sum().backward()
    assert frontend.layer_weights.grad is not None
    with pytest.raises(ValueError, match="choose one"):
        SSLUpstreamFrontend(arch="tiny", weighted_sum=True, layer=1)


def trained_parameters(frontend: SSLUpstreamFrontend, wave: torch.Tensor) -> set:
    """Names of upstream parameters that receive a gradient from one training step."""
    frontend.zero_grad(set_to_none=True)
    feats, _ = frontend(wave, torch.tensor([wave.size(1)] * wave.size(0)))
    if not feats.requires_grad:  # nothing upstream of the (absent) head is trained
        return set()
    feats.sum().backward()
    return {n for n, p in frontend.upstream.named_parameters() if p.grad is not None}


def test_freeze_layers_fixes_the_bottom_of_the_transformer():
    frontend = SSLUpstreamFrontend(
        arch="tiny", arch_conf={"encoder_num_layers": 3, "encoder_layer_drop": 0.0}, freeze_layers=2
    )
    trained = trained_parameters(frontend, torch.randn(2, 4000))
    assert trained and all(n.startswith("encoder.transformer.layers.2.") for n in trained)
    with pytest.raises(ValueError, match="freeze_layers"):
        SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 3}, freeze_layers=4)


def test_freeze_steps_trains_the_upstream_only_after_k_batches():
    arch_conf = {"encoder_num_layers": 1, "encoder_layer_drop": 0.0}
    frontend = SSLUpstreamFrontend(arch="tiny", arch_conf=arch_conf, freeze_steps=2).train()
    wave = torch.randn(1, 4000)
    assert trained_parameters(frontend, wave) == set()
    assert trained_parameters(frontend, wave) == set()
    assert "encoder.transformer.layers.0.attention.k_proj.weight" in trained_parameters(frontend, wave)
    assert frontend.state_dict()["num_updates"] == 3  # saved, so a resumed run keeps counting


def test_freeze_all_is_a_probe_without_gradients_or_dropout():
    frontend = SSLUpstreamFrontend(
        arch="tiny", arch_conf={"encoder_num_layers": 2}, freeze_all=True, weighted_sum=True
    ).train()
    assert not frontend.upstream.training
    wave = torch.randn(1, 4000)
    assert trained_parameters(frontend, wave) == set()
    assert frontend.layer_weights.grad is not None
    again, _ = frontend(wave, torch.tensor([4000]))
    torch.testing.assert_close(again, frontend(wave, torch.tensor([4000]))[0])


def test_bf16_transformer_stays_close_to_float32_and_returns_float32():
    torch.manual_seed(0)
    frontend = SSLUpstreamFrontend(arch="tiny", arch_conf={"encoder_num_layers": 2}).eval()
    wave, lengths = torch.randn(2, 8000), torch.tensor([8000, 6000])
    full, _ = frontend(wave, lengths)
    frontend.bf16_transformer = True
    fast, _ = frontend(wave, lengths)
    assert fast.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(fast.flatten(), full.flatten(), dim=0) > 0.99
