"""ESPnet frontend that runs an SSL upstream (waveform CNN + transformer) on raw audio.

It returns frame-level hidden states (20 ms frames) with frame-level lengths, computed by the
CNN's own length formula, so any ESPnet encoder/CTC/classifier can follow it.
"""

import logging
from typing import Any, Dict, Optional, Tuple

import torch
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from typeguard import typechecked

from espnet2_ext.upstream.architectures import build_architecture


class SSLUpstreamFrontend(AbsFrontend):
    """Frame-level features from one layer of a HuBERT/wav2vec 2.0-style upstream.

    Args:
        fs: Expected sampling rate of the input waveforms.
        arch: Named architecture (see ``ARCHITECTURES``).
        arch_conf: Overrides of the architecture's options (torchaudio ``wav2vec2_model`` kwargs).
        weights: Where the weights come from. ``random`` builds a randomly initialised upstream of
            the same architecture (a baseline, and the stand-in until a pretrained one is given).
        layer: Transformer layer whose output is returned (-1: last). Layers above it are not run.
        freeze_cnn: Keep the waveform CNN fixed (as fairseq/ESPnet HuBERT fine-tuning does).
        normalize_waveform: Zero-mean, unit-variance each waveform over its valid samples
            (wav2vec 2.0 Large/WavLM expect this; HuBERT Base does not).
    """

    @typechecked
    def __init__(
        self,
        fs: int = 16000,
        arch: str = "tiny",
        arch_conf: Optional[Dict[str, Any]] = None,
        weights: str = "random",
        layer: int = -1,
        freeze_cnn: bool = False,
        normalize_waveform: bool = False,
    ):
        super().__init__()
        if fs != 16000:
            raise ValueError(f"SSL upstreams expect 16 kHz audio, got fs={fs}")
        if weights != "random":
            raise ValueError(f"unsupported upstream weights '{weights}' (supported: 'random')")
        logging.warning("SSLUpstreamFrontend: '%s' upstream with RANDOM initial weights", arch)
        self.upstream = build_architecture(arch, **(arch_conf or {}))
        num_layers = len(self.upstream.encoder.transformer.layers)
        if not -num_layers <= layer < num_layers:
            raise ValueError(f"layer={layer} is out of range for a {num_layers}-layer upstream")
        self.num_layers_run = layer % num_layers + 1
        self.freeze_cnn = freeze_cnn
        self.normalize_waveform = normalize_waveform
        if freeze_cnn:
            self.upstream.feature_extractor.requires_grad_(False)
        self._output_size = self.upstream.encoder.feature_projection.projection.out_features

    def output_size(self) -> int:
        return self._output_size

    def forward(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.normalize_waveform:
            input = _normalize(input, input_lengths)
        with torch.set_grad_enabled(self.training and not self.freeze_cnn):
            feats, lengths = self.upstream.feature_extractor(input, input_lengths)
        # torchaudio's Encoder.extract_features runs only the first ``num_layers`` layers.
        layers = self.upstream.encoder.extract_features(
            feats, lengths, num_layers=self.num_layers_run
        )
        return layers[-1], lengths


def _normalize(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-utterance zero-mean, unit-variance over valid samples; padding stays zero."""
    mask = torch.arange(wave.size(1), device=wave.device)[None, :] < lengths[:, None]
    count = lengths.clamp(min=1)[:, None].to(wave.dtype)
    mean = (wave * mask).sum(1, keepdim=True) / count
    var = (((wave - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (wave - mean) / torch.sqrt(var + 1e-5) * mask
