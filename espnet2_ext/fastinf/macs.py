"""Multiply-accumulate counts with PyTorch's own ``FlopCounterMode`` (MACs = FLOPs / 2).

It counts matrix products and convolutions (bias additions, norms, activations and pooling
are not counted, as in thop, the paper's counter), and, unlike thop, attention's two matrix
products. PyTorch has no formula for the CPU flash-attention kernel that
``scaled_dot_product_attention`` runs on CPU, so the one of the GPU kernels is added for it.

``count_decoding`` counts what decoding runs per utterance; ``python -m espnet2_ext.bin.asr_macs``
applies it to a trained experiment (stage 12 writes ``macs.json`` with it).
"""

from typing import Any, Callable, Dict, Iterable, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from espnet2_ext.audio import SAMPLE_RATE, audio_samples
from espnet2_ext.fastinf.early_exit import EarlyExitASRModel

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


def _num_params(module: Any) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def count_decoding(model: Any, utterances: Iterable[torch.Tensor], num_utts: int) -> Dict[str, Any]:
    """MACs per audio second of what ``Speech2Text`` runs before its search, on the first
    ``num_utts`` of ``utterances`` (each one input as Speech2Text is given it: (samples[, channels])).

    Counted: the model's ``encode()`` (downsampler, upstream CNN and transformer, ESPnet encoder
    and post-encoder; for an early-exit model only the layers up to the one it exits at, and the
    exit heads and CTC posteriors it tried on the way) and the CTC projection of its output, which
    best-path decoding applies. An attention decoder and a beam search are not. Audio is counted
    as ``rtf.json`` counts it (``espnet2_ext.audio.audio_samples``).
    """
    totals = {"num_utts": 0, "audio_seconds": 0.0, "encode_macs": 0, "ctc_macs": 0}
    exit_layers = []
    for speech in utterances:
        encoded = {}

        def encode() -> None:  # Speech2Text.__call__, up to its search
            speech_batch = speech[None]
            lengths = speech_batch.new_full([1], dtype=torch.long, fill_value=speech_batch.size(1))
            enc, _ = model.encode(speech_batch, lengths)
            encoded["enc"] = enc[0] if isinstance(enc, tuple) else enc  # intermediate CTC: the last

        totals["encode_macs"] += count_macs(encode)
        if model.ctc is not None:
            totals["ctc_macs"] += count_macs(lambda: model.ctc.log_softmax(encoded["enc"]))
        if isinstance(model, EarlyExitASRModel):
            exit_layers.append(model.last_exit_layer)
        totals["audio_seconds"] += audio_samples(model, speech) / SAMPLE_RATE
        totals["num_utts"] += 1
        if totals["num_utts"] == num_utts:
            break
    if totals["num_utts"] == 0 or totals["audio_seconds"] <= 0:
        raise ValueError("no audio to count MACs on")
    macs = totals["encode_macs"] + totals["ctc_macs"]
    result: Dict[str, Any] = {
        **totals,
        "macs": macs,
        "macs_per_audio_second": macs / totals["audio_seconds"],
        "num_params": _num_params(model),
        "num_params_frontend": _num_params(model.frontend),
        "num_params_encoder": _num_params(model.encoder),
    }
    if exit_layers:
        result["mean_exit_layer"] = sum(exit_layers) / len(exit_layers)
    return result
