"""ESPnet frontend that runs an SSL upstream (waveform CNN + transformer) on raw audio.

It returns frame-level hidden states (20 ms frames) with frame-level lengths, computed by the
CNN's own length formula, so any ESPnet encoder/CTC/classifier can follow it.
"""

import contextlib
import itertools
from typing import Any, Callable, ContextManager, Dict, Iterator, Optional, Tuple

import torch
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from typeguard import typechecked

from espnet2_ext.audio import valid_samples
from espnet2_ext.upstream.checkpoints import load_upstream
from espnet2_ext.upstream.cnn import padding_aware_features
from espnet2_ext.upstream.downsample import build_downsampler
from espnet2_ext.upstream.layers import iter_layer_outputs, keep_first_layers


class SSLUpstreamFrontend(AbsFrontend):
    """Frame-level features from one layer, or a learned weighted sum of layers, of an upstream.

    Args:
        fs: Expected sampling rate of the input waveforms.
        weights: ``random`` (a randomly initialised ``arch``), a checkpoint file (the project's
            exported upstream, or an ESPnet ``hubert_train`` checkpoint with its config.yaml), a
            local transformers directory (wav2vec2/HuBERT/WavLM), or ``hf:<hub id>`` (online).
        arch: Named architecture of a ``random`` upstream (see ``ARCHITECTURES``).
        arch_conf: Overrides of that architecture (torchaudio ``wav2vec2_model`` kwargs).
        keep_layers: Delete the transformer layers above the first N before fine-tuning (layer
            removal, Zaiem et al. 2023); ``layer`` and ``weighted_sum`` then see N layers.
        layer: Transformer layer whose output is returned (-1: last). Layers above it are not run.
        weighted_sum: Return a learnable softmax-weighted sum of all layers' outputs instead.
        freeze_cnn: Keep the waveform CNN fixed (as fairseq/ESPnet HuBERT fine-tuning does).
        freeze_layers: Keep the CNN, the feature projection, the positional convolution (and
            input LayerNorm) and the first N transformer layers fixed.
        freeze_all: Keep the whole upstream fixed and in eval mode (a frozen-upstream probe).
        freeze_steps: Keep the whole upstream fixed for the first K training batches, then train
            it (fairseq's ``freeze_finetune_updates``), and a learned downsampler with it. The
            count is saved with the model, so a resumed run continues it.
        normalize_waveform: Zero-mean, unit-variance each waveform over its valid samples
            (wav2vec 2.0 Large/WavLM expect this; HuBERT Base does not), after downsampling.
        downsample: Downsample the waveform before the upstream (Zaiem et al. 2023): ``sd``
            (resampling), ``cl`` (learned convolution, trained with the rest) or ``av`` (average
            pooling); see ``espnet2_ext.upstream.downsample``. Frames then come at 50/k Hz.
        downsample_factor: Its factor k (an integer >= 2).
        downsample_conf: Its options (``kernel_size`` for cl/av, ``padding`` for av).
        padding_aware_cnn: Compute the CNN's GroupNorm statistics over each item's valid samples
            (``espnet2_ext.upstream.cnn``), so that a segment's features do not depend on the
            padding of its batch (fairseq and torchaudio normalise over it; off by default).
        bf16_transformer: Run the transformer layers under bfloat16 autocast (faster on CPUs
            with AMX, which do not speed up the GroupNorm CNN: espnet2_ext/upstream/README.md,
            § CPU notes); the CNN stays float32 and the output is float32.
    """

    @typechecked
    def __init__(
        self,
        fs: int = 16000,
        weights: str = "random",
        arch: Optional[str] = None,
        arch_conf: Optional[Dict[str, Any]] = None,
        keep_layers: Optional[int] = None,
        layer: int = -1,
        weighted_sum: bool = False,
        freeze_cnn: bool = False,
        freeze_layers: int = 0,
        freeze_all: bool = False,
        freeze_steps: int = 0,
        normalize_waveform: bool = False,
        padding_aware_cnn: bool = False,
        bf16_transformer: bool = False,
        downsample: Optional[str] = None,
        downsample_factor: Optional[int] = None,
        downsample_conf: Optional[Dict[str, Any]] = None,
    ):
        super().__init__()
        if fs != 16000:
            raise ValueError(f"SSL upstreams expect 16 kHz audio, got fs={fs}")
        self.upstream = load_upstream(weights, arch, arch_conf)
        if keep_layers is not None:
            keep_first_layers(self.upstream, keep_layers)
        self.downsampler = build_downsampler(downsample, downsample_factor, downsample_conf)
        num_layers = len(self.upstream.encoder.transformer.layers)
        if not -num_layers <= layer < num_layers:
            raise ValueError(f"layer={layer} is out of range for a {num_layers}-layer upstream")
        if weighted_sum and layer != -1:
            raise ValueError("choose one: layer or weighted_sum")
        if not 0 <= freeze_layers <= num_layers:
            raise ValueError(f"freeze_layers={freeze_layers} is out of range for {num_layers} layers")
        self.num_layers_run = layer % num_layers + 1
        self.layer_weights = torch.nn.Parameter(torch.zeros(num_layers)) if weighted_sum else None
        self.freeze_cnn = freeze_cnn or freeze_all or freeze_layers > 0
        self.freeze_all = freeze_all
        self.freeze_steps = freeze_steps
        self.normalize_waveform = normalize_waveform
        self.padding_aware_cnn = padding_aware_cnn
        self.bf16_transformer = bf16_transformer
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._freeze(freeze_layers)
        self._output_size = self.upstream.encoder.feature_projection.projection.out_features

    def _freeze(self, freeze_layers: int) -> None:
        if self.freeze_all:
            self.upstream.requires_grad_(False)
            self.upstream.eval()
            return
        if self.freeze_cnn:
            self.upstream.feature_extractor.requires_grad_(False)
        if freeze_layers:
            encoder = self.upstream.encoder
            encoder.feature_projection.requires_grad_(False)
            transformer = encoder.transformer
            transformer.pos_conv_embed.requires_grad_(False)
            if transformer.layer_norm_first:  # post-LN models normalise the layers' input
                transformer.layer_norm.requires_grad_(False)
            transformer.layers[:freeze_layers].requires_grad_(False)

    def train(self, mode: bool = True) -> "SSLUpstreamFrontend":
        super().train(mode)
        if self.freeze_all:
            self.upstream.eval()  # no dropout/layer drop in a frozen probe
        return self

    def output_size(self) -> int:
        return self._output_size

    def forward(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        feats, lengths, _ = self.forward_with_top_layer(input, input_lengths)
        return feats, lengths

    def forward_with_top_layer(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``forward``'s features and lengths, plus the output of the top layer run (the
        upstream's last layer unless ``layer``/``keep_layers`` cut it), with the same lengths.
        Without ``weighted_sum`` the two tensors are the same; with it, the second is what a
        module "on top of the last layer" (the context module of ``model: ctx_aware``) reads."""
        layers, lengths = self.iter_layers(input, input_lengths)
        outputs = list(itertools.islice(layers, self.num_layers_run))
        if self.layer_weights is None:
            return outputs[-1], lengths, outputs[-1]
        weights = torch.softmax(self.layer_weights, dim=0)
        return torch.einsum("l,lbtc->btc", weights, torch.stack(outputs)), lengths, outputs[-1]

    def iter_layers(
        self, input: torch.Tensor, input_lengths: torch.Tensor
    ) -> Tuple[Iterator[torch.Tensor], torch.Tensor]:
        """The transformer layers' outputs (float32, lazily: a layer runs when its output is
        asked for) and the frame lengths, with this frontend's downsampling and freezing."""
        waiting = self.training and self.num_updates < self.freeze_steps
        if self.training:
            self.num_updates += 1
        grad = torch.is_grad_enabled() and not waiting
        if self.downsampler is not None:
            with torch.set_grad_enabled(grad):
                input, input_lengths = self.downsampler(input, input_lengths)
        if self.normalize_waveform:
            input = _normalize(input, input_lengths)
        # A learned downsampler needs gradients back through the upstream above it, frozen or not
        # (frozen parameters have requires_grad off and stay fixed).
        through = grad and _has_trainable(self.downsampler)
        upstream_grad = grad and (through or not self.freeze_all)
        with torch.set_grad_enabled(upstream_grad and (through or not self.freeze_cnn)):
            if self.padding_aware_cnn:
                feats, lengths = padding_aware_features(self.upstream.feature_extractor, input, input_lengths)
            else:
                feats, lengths = self.upstream.feature_extractor(input, input_lengths)
        layers = iter_layer_outputs(self.upstream, feats, lengths)
        return _stepped(layers, lambda: self._layer_mode(upstream_grad, feats.device.type)), lengths

    @contextlib.contextmanager
    def _layer_mode(self, grad: bool, device_type: str) -> Iterator[None]:
        with torch.set_grad_enabled(grad), torch.autocast(
            device_type, torch.bfloat16, enabled=self.bf16_transformer
        ):
            yield


def _stepped(
    steps: Iterator[torch.Tensor], mode: Callable[[], ContextManager[None]]
) -> Iterator[torch.Tensor]:
    """Advance ``steps`` inside ``mode`` but hand each output over outside it, so that what the
    consumer computes on it keeps the consumer's own grad mode and precision."""
    while True:
        with mode():
            output = next(steps, None)
        if output is None:
            return
        yield output.float()


def _has_trainable(module: Optional[torch.nn.Module]) -> bool:
    return module is not None and any(p.requires_grad for p in module.parameters())


def _normalize(wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per-utterance zero-mean, unit-variance over valid samples; padding stays zero."""
    mask = valid_samples(lengths.to(wave.device), wave.size(1))
    count = lengths.clamp(min=1)[:, None].to(wave.dtype)
    mean = (wave * mask).sum(1, keepdim=True) / count
    var = (((wave - mean) * mask) ** 2).sum(1, keepdim=True) / count
    return (wave - mean) / torch.sqrt(var + 1e-5) * mask
