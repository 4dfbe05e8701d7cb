"""Multiply-accumulate counts with PyTorch's own ``FlopCounterMode`` (MACs = FLOPs / 2).

It counts matrix products and convolutions (bias additions, norms, activations and pooling
are not counted, as in thop, the paper's counter), and, unlike thop, attention's two matrix
products. PyTorch has no formula for the CPU flash-attention kernel that
``scaled_dot_product_attention`` runs on CPU, so the one of the GPU kernels is added for it.
"""

from typing import Any, Callable, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


Shape = Tuple[int, ...]


def _cpu_flash_attention_flops(query: Shape, key: Shape, value: Shape, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query, key, value)


_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_attention_flops}


def count_macs(run: Callable[[], Any]) -> int:
    """MACs of the operations that ``run()`` executes, without gradients.

    (``torch.no_grad``: the counter's module tracker fails on parameters used under inference mode.)
    """
    with FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION) as counter, torch.no_grad():
        run()
    return counter.get_total_flops() // 2


def encoder_macs(encoder: torch.nn.Module, num_samples: int, batch: int = 1) -> int:
    """MACs of an ESPnet frontend (downsampler + upstream) on ``batch`` waveforms of ``num_samples``."""
    wave = torch.zeros(batch, num_samples)
    lengths = torch.full((batch,), num_samples, dtype=torch.long)
    was_training = encoder.training
    encoder.eval()
    try:
        return count_macs(lambda: encoder(wave, lengths))
    finally:
        encoder.train(was_training)
