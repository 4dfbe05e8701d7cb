"""The context module g (frames -> one vector per segment) and its fusion into the frames.

Reconstruction of Shon et al. (2023), whose module is not published (espnet2_ext/context/README.md,
§ Verified vs inferred): a projection, an optional transformer layer, masked mean pooling and a
LayerNorm give c_t; c_t is then an "additional feature for the final prediction": broadcast over
time, concatenated with each frame and mapped back to the frame dimension, so that ESPnet's CTC or
classification head follows unchanged.
"""

import torch
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask

FUSIONS = ("concat", "residual")


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first ``lengths[b]`` frames of each ``x[b]`` (B, T, D) -> (B, D)."""
    valid = (~make_pad_mask(lengths, maxlen=x.size(1))).to(x.device, x.dtype)[..., None]
    return (x * valid).sum(1) / lengths.clamp(min=1)[:, None].to(x.dtype)


class ContextModule(torch.nn.Module):
    """c_t = LayerNorm(MeanPool(Transformer?(Linear(H_t)))) over the valid frames of H_t.

    Args:
        input_dim: Frame dimension D (the upstream's last layer).
        context_dim: d_c (default 256, a reconstruction choice).
        transformer: Add one transformer encoder layer (d_c wide, 4 d_c feed-forward) after the
            projection. Off by default: without it the module costs one d_c x D product per
            segment (pooling commutes with the projection), the "tiny overhead" of the abstract.
        heads: Attention heads of that layer.
        dropout: Dropout of that layer.
    """

    def __init__(
        self, input_dim: int, context_dim: int = 256, transformer: bool = False, heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(input_dim, context_dim)
        self.layer = (
            torch.nn.TransformerEncoderLayer(
                context_dim, heads, dim_feedforward=4 * context_dim, dropout=dropout, batch_first=True
            )
            if transformer else None
        )
        self.norm = torch.nn.LayerNorm(context_dim)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D) frames with (B,) valid lengths -> (B, d_c)."""
        if self.layer is None:
            # mean(W h + b) = W mean(h) + b: pool first, project one vector per segment.
            return self.norm(self.proj(masked_mean(frames, lengths)))
        x = self.layer(self.proj(frames), src_key_padding_mask=make_pad_mask(lengths, maxlen=frames.size(1)).to(frames.device))
        return self.norm(masked_mean(x, lengths))


class ContextFusion(torch.nn.Module):
    """Frames (B, T, D) and context (B, d_c) -> frames (B, T, D) that carry the context.

    ``concat``: Linear(D + d_c -> D) on [h_tau; c_t] (back to D: the stock head follows). With
    ``identity_init`` it starts as the identity on the frames (frame block I, context block and
    bias 0, as adapters and zero-initialised side branches start), so fine-tuning starts from the
    standard model's features: a randomly initialised context block would add a random offset per
    segment to every frame the pretrained head sees. The context block still gets gradients
    (frames' gradient x c_t) and, once non-zero, passes them on to the context module.
    ``residual``: h_tau + Linear(d_c -> D)(c_t), the same with the frame block fixed to the
    identity: the frame path is exactly the standard model's, and the per-frame cost is an add.
    Either way a linear head after it (CTC's output layer) is a linear map of [h_tau; c_t], and
    after mean pooling (ESPnet's CLS ``linear`` decoder) a linear map of [mean_tau h_tau; c_t]:
    pooling commutes with the fusion because c_t is the same on every frame.
    """

    def __init__(self, frame_dim: int, context_dim: int, kind: str = "concat", identity_init: bool = True) -> None:
        super().__init__()
        if kind not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}: {kind}")
        self.kind = kind
        self.frame_dim = frame_dim
        in_dim = frame_dim + context_dim if kind == "concat" else context_dim
        self.linear = torch.nn.Linear(in_dim, frame_dim)
        if identity_init:
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.bias.zero_()
                if kind == "concat":
                    self.linear.weight[:, :frame_dim].copy_(torch.eye(frame_dim))

    def forward(self, frames: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        if self.kind == "residual":
            return frames + self.linear(context)[:, None, :]
        # W [h; c] + b = W_h h + (W_c c + b): the context term is computed once per segment.
        weight_h, weight_c = self.linear.weight.split([self.frame_dim, context.size(-1)], dim=1)
        per_segment = torch.nn.functional.linear(context, weight_c, self.linear.bias)
        return torch.nn.functional.linear(frames, weight_h) + per_segment[:, None, :]
