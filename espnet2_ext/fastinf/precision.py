"""The upstream in another numeric precision at inference (issue 21: downsampling composed with
lower precisions).

``fp32``: the transformer in float32; ``bf16``: under bfloat16 autocast (the frontend's
``bf16_transformer``, which the CPU training configs already use); ``int8``: every ``nn.Linear`` of
the upstream quantised to int8 weights with activations quantised on the fly (torch's dynamic
quantisation, float32 around it). The CNN stays float32 in all three, the downsampler and the head
are untouched. ``bench.encoder`` times these on the encoder alone; ``asr_inference
--upstream_precision`` decodes a trained model with them.
"""

import copy

import torch

from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

PRECISIONS = ("fp32", "bf16", "int8")


def int8_dynamic(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` with every nn.Linear quantised to int8 weights (activations quantised
    on the fly), as torch's dynamic quantisation does it."""
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(module), {torch.nn.Linear}, dtype=torch.qint8)


def set_upstream_precision(frontend: torch.nn.Module, precision: str) -> None:
    """Run ``frontend``'s upstream in ``precision`` from now on (in place; for inference: the
    int8 upstream has no gradients)."""
    if precision not in PRECISIONS:
        raise ValueError(f"upstream precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if not isinstance(frontend, SSLUpstreamFrontend):
        raise TypeError(
            f"an upstream precision needs the ssl_upstream frontend; this model's is {type(frontend).__name__}")
    # int8 replaces the Linear modules; bf16 autocast would hand them bfloat16 input they reject.
    frontend.bf16_transformer = precision == "bf16"
    if precision == "int8":
        frontend.upstream = int8_dynamic(frontend.upstream)
