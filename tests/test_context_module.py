"""Context module (pooling, optional transformer) and fusion into the frames."""

import pytest
import torch
from espnet2.cls.decoder.linear_decoder import LinearDecoder

from espnet2_ext.context.module import ContextFusion, ContextModule, masked_mean


def test_masked_mean_ignores_padding():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]])[..., None]
    assert masked_mean(x, torch.tensor([3, 2])).squeeze(-1).tolist() == [2.0, 4.5]


def test_pooling_first_equals_projecting_every_frame():
    torch.manual_seed(0)
    module = ContextModule(6, 4)
    frames, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    expected = module.norm(masked_mean(module.proj(frames), lengths))
    assert torch.allclose(module(frames, lengths), expected, atol=1e-6)
    assert module(frames, lengths).shape == (2, 4)


@pytest.mark.parametrize("transformer", [False, True])
def test_padded_frames_do_not_change_the_vector(transformer):
    torch.manual_seed(0)
    module = ContextModule(6, 8, transformer=transformer, heads=2).eval()
    frames, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    changed = frames.clone()
    changed[1, 3:] = 1e3
    assert torch.allclose(module(frames, lengths), module(changed, lengths), atol=1e-5)


def test_concat_fusion_is_a_linear_map_of_frame_and_context_starting_at_the_identity():
    torch.manual_seed(0)
    fusion = ContextFusion(6, 4, "concat")
    frames, context = torch.randn(2, 5, 6), torch.randn(2, 4)
    assert torch.equal(fusion(frames, context), frames)  # the standard model's frames at the start
    with torch.no_grad():
        fusion.linear.weight[:, 6:].normal_()  # as training moves the context block
    concat = torch.cat([frames, context[:, None, :].expand(-1, 5, -1)], dim=-1)
    assert torch.allclose(fusion(frames, context), fusion.linear(concat), atol=1e-6)
    weight_c = fusion.linear.weight[:, 6:]
    assert torch.allclose(fusion(frames, context), frames + (context @ weight_c.T)[:, None], atol=1e-6)


def test_residual_fusion_adds_a_projection_of_the_context():
    fusion = ContextFusion(6, 4, "residual")
    frames, context = torch.randn(2, 5, 6), torch.randn(2, 4)
    assert torch.equal(fusion(frames, context), frames)
    torch.nn.init.normal_(fusion.linear.weight)
    assert torch.allclose(fusion(frames, context), frames + fusion.linear(context)[:, None], atol=1e-6)
    with pytest.raises(ValueError, match="fusion"):
        ContextFusion(6, 4, "gated")


def test_mean_pooling_classifier_after_fusion_classifies_pooled_frames_with_the_context():
    # ESPnet's CLS linear decoder (mean pooling) on fused frames = a linear map of [pooled; c].
    torch.manual_seed(0)
    fusion = ContextFusion(6, 4, "concat", identity_init=False)
    decoder = LinearDecoder(3, 6, pooling="mean")
    frames, lengths, context = torch.randn(2, 5, 6), torch.tensor([5, 2]), torch.randn(2, 4)
    pooled = torch.cat([masked_mean(frames, lengths), context], dim=-1)
    expected = decoder.linear_out(fusion.linear(pooled))
    assert torch.allclose(decoder(fusion(frames, context), lengths), expected, atol=1e-5)
