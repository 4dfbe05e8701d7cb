"""MAC counting with torch's FlopCounterMode, on modules whose count is known by hand."""

import torch

from espnet2_ext.upstream.downsample import ConvDownsampler
from espnet2_ext.fastinf.macs import count_macs, encoder_macs
from espnet2_ext.upstream.architectures import ARCHITECTURES, build_architecture
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend


def test_linear_and_conv_by_hand():
    linear = torch.nn.Linear(10, 20)
    assert count_macs(lambda: linear(torch.randn(3, 10))) == 3 * 10 * 20
    down = ConvDownsampler(3)  # 1 channel, 161 taps, one output per 3 samples
    assert count_macs(lambda: down(torch.randn(1, 1000), torch.tensor([1000]))) == 280 * 161


def test_cpu_attention_counts_both_matrix_products():
    q = torch.randn(2, 4, 50, 16)  # batch, heads, frames, head dim
    macs = count_macs(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert macs == 2 * 4 * (50 * 50 * 16) * 2  # QK^T and (softmax)V


def test_cnn_by_hand():
    cnn = build_architecture("tiny", encoder_num_layers=1).feature_extractor
    frames, in_channels, expected = 16000, 1, 0
    for channels, kernel, stride in ARCHITECTURES["tiny"]["extractor_conv_layer_config"]:
        frames = (frames - kernel) // stride + 1
        expected += frames * in_channels * channels * kernel
        in_channels = channels
    assert count_macs(lambda: cnn(torch.randn(1, 16000), None)) == expected


def test_encoder_macs_fall_with_downsampling_and_layer_removal():
    torch.manual_seed(0)
    conf = {"encoder_num_layers": 2}
    full = encoder_macs(SSLUpstreamFrontend(arch="tiny", arch_conf=conf), 32000)
    av2 = encoder_macs(SSLUpstreamFrontend(arch="tiny", arch_conf=conf, downsample="av", downsample_factor=2), 32000)
    one = encoder_macs(SSLUpstreamFrontend(arch="tiny", arch_conf=conf, keep_layers=1), 32000)
    assert 0.45 < av2 / full < 0.5  # half the samples and frames (pooling adds are not counted)
    layer = 99 * (4 * 256 * 256 + 2 * 256 * 1024) + 2 * 99 * 99 * 256  # 99 frames: projections, FFN, attention
    assert full - one == layer
