"""Early exiting (Zaiem et al. 2023, espnet2_ext/fastinf/README.md) for CTC ASR: ``model: early_exit``.

An exit head sits on each transformer layer of ``exit_layers``; training sums the exits' CTC
losses. Decoding runs the upstream layer by layer and stops at the first exit layer whose
criterion fires, so the layers above it are never computed (that is the speed-up):

* ``entropy``: the mean over valid frames of the entropy (nats) of the exit's CTC posteriors is
  below the threshold (the paper's yaml: 0.10);
* ``similarity``: the mean over valid frames of the cosine similarity between the layer's and
  the previous layer's hidden states is above the threshold (0.95);
* ``none``: always the last exit layer (the same training, without early exiting).

The last exit layer always exits. Fit to ESPnet, and where this differs from the paper:

* An exit head is the paper's Linear(D, D) -> LeakyReLU, per layer, followed by the model's one
  ESPnet ``ctc`` module, shared by all exits (the paper has a Linear(D, vocab) per exit): the
  stock decoding program scores CTC with ``asr_model.ctc`` on ``encode()``'s output, so
  ``encode()`` returns the chosen exit's Linear-LeakyReLU output and one ``ctc`` serves all.
* The decision is taken per batch (means over all its valid frames); ESPnet's decoding program
  only runs batch_size 1, so there it is per utterance.
* The upstream is the ``ssl_upstream`` frontend (its downsampling, freezing and bf16 options
  apply), run layer by layer by this model; the ESPnet encoder must be a pass-through
  (``encoder: linear``, ``input_layer: null``) and is not called; specaug, normalize,
  preencoder, postencoder and attention decoders are not supported.
* ``encode()`` leaves the chosen layer (1-based) in ``last_exit_layer``;
  ``espnet2_ext.bin.asr_inference`` writes it per utterance to ``1best_recog/exit_layer``, with
  the rule it was decoded by (``--exit_criterion``, ``--exit_threshold``: a threshold sweep decodes
  one model several times) to ``1best_recog/exit_rule``; ``mean_exit_layer`` averages the former
  (the paper logs the mean exit layer).
"""

import itertools
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet2.asr.encoder.linear_encoder import LinearEncoder
from espnet2.asr.espnet_model import ESPnetASRModel
from espnet2.torch_utils.device_funcs import force_gatherable

from espnet2_ext.errors import at
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

MODEL_NAME = "early_exit"
CRITERIA = ("entropy", "similarity", "none")
DEFAULT_THRESHOLDS = {"entropy": 0.10, "similarity": 0.95}  # the paper's yaml values


def mean_entropy(log_probs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over a batch's valid frames of each frame's entropy (nats); ``log_probs`` (B, T, V)."""
    return _valid_mean(-(log_probs.exp() * log_probs).sum(-1), lengths)


def mean_cosine(hidden: torch.Tensor, previous: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over a batch's valid frames of the cosine similarity of two layers' (B, T, D) states."""
    return _valid_mean(torch.nn.functional.cosine_similarity(hidden, previous, dim=-1), lengths)


def _valid_mean(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return values[(~make_pad_mask(lengths, maxlen=values.size(1))).to(values.device)].mean()


def mean_exit_layer(path: Union[str, Path]) -> float:
    """Mean of an ``exit_layer`` file (``utt_id layer`` lines), e.g. ``<decode_dir>/exit_layer``."""
    layers = []
    for key, value in read_map(path).items():
        if not value.isdigit():
            raise at(path, None, f"'{key}': the exit layer must be a number, got '{value}'")
        layers.append(int(value))
    if not layers:
        raise at(path, None, "no utterances")
    return sum(layers) / len(layers)


class EarlyExitASRModel(ESPnetASRModel):
    """ESPnet's CTC ASR model with exit heads on upper upstream layers (see the module doc).

    Args (``model_conf``, besides ESPnetASRModel's own; ``ctc_weight: 1.0``):
        exit_layers: ``[first, last]``, the 1-based inclusive range of transformer layers with an
            exit head (default: the upper half, e.g. [13, 24] for 24 layers as in the paper).
        exit_criterion: ``entropy`` (default), ``similarity`` or ``none`` (the last exit).
        exit_threshold: Its threshold (default: entropy 0.10 nats, similarity 0.95).
    """

    def __init__(
        self,
        *,
        exit_layers: Optional[Sequence[int]] = None,
        exit_criterion: str = "entropy",
        exit_threshold: Optional[float] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        num_layers = _check_modules(self)
        first, last = _exit_range(exit_layers, num_layers)
        self.set_exit_rule(exit_criterion, exit_threshold)
        self.exit_layers = range(first, last + 1)
        dim = self.frontend.output_size()
        self.exit_heads = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.LeakyReLU()) for _ in self.exit_layers
        )
        self.last_exit_layer: Optional[int] = None

    def set_exit_rule(self, criterion: str, threshold: Optional[float] = None) -> None:
        """Exit by ``criterion`` at ``threshold`` (None: the criterion's default) from now on;
        decoding may change the rule the model was trained with (a threshold sweep)."""
        if criterion not in CRITERIA:
            raise ValueError(f"exit_criterion must be one of {CRITERIA}: {criterion}")
        self.exit_criterion = criterion
        self.exit_threshold = DEFAULT_THRESHOLDS.get(criterion) if threshold is None else threshold

    @property
    def exit_rule(self) -> str:
        """``criterion threshold`` (``none`` alone), as decoding records it per utterance."""
        return self.exit_criterion if self.exit_criterion == "none" else f"{self.exit_criterion} {self.exit_threshold:g}"

    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
        text_lengths: torch.Tensor, **kwargs: Any,
    ) -> Tuple[torch.Tensor, Dict[str, Optional[torch.Tensor]], torch.Tensor]:
        """The sum of all exits' CTC losses (training and validation; no early exit here)."""
        text[text == -1] = self.ignore_id
        text = text[:, : text_lengths.max()]
        outputs, lengths = self.exit_outputs(speech, speech_lengths)
        losses: List[torch.Tensor] = []
        stats: Dict[str, Optional[torch.Tensor]] = {}
        for number, output in zip(self.exit_layers, outputs):
            loss, cer = self._calc_ctc_loss(output, lengths, text, text_lengths)  # cer: validation only
            stats[f"loss_ctc_l{number}"], stats[f"cer_ctc_l{number}"] = loss.detach(), cer
            losses.append(loss)
        total = torch.stack(losses).sum()
        stats["cer_ctc"] = cer  # the last exit's, as a stock CTC model reports its output's
        stats["loss"] = total.detach()
        return force_gatherable((total, stats, speech.shape[0]), total.device)

    def exit_outputs(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Every exit head's output, with one pass of the upstream up to the last exit layer."""
        layers, lengths = self._iter_layers(speech, speech_lengths)
        hidden = itertools.islice(layers, self.exit_layers[0] - 1, self.exit_layers[-1])
        return [head(h) for head, h in zip(self.exit_heads, hidden)], lengths

    def encode(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The output of the first exit head whose criterion fires (the last exit's otherwise),
        for ``self.ctc``; the layers above it are not run. Sets ``last_exit_layer``."""
        layers, lengths = self._iter_layers(speech, speech_lengths)
        previous: Optional[torch.Tensor] = None
        last = self.exit_layers[-1]
        for number, hidden in zip(range(1, last), layers):  # zip stops before running layer `last`
            output = self._early_exit(number, hidden, previous, lengths) if number in self.exit_layers else None
            if output is not None:
                self.last_exit_layer = number
                return output, lengths
            previous = hidden
        self.last_exit_layer = last
        return self.exit_heads[-1](next(layers)), lengths

    def _early_exit(
        self, number: int, hidden: torch.Tensor, previous: Optional[torch.Tensor], lengths: torch.Tensor
    ) -> Optional[torch.Tensor]:
        """The exit head's output if the criterion fires at (non-last) exit layer ``number``."""
        head = self.exit_heads[self.exit_layers.index(number)]
        if self.exit_criterion == "entropy":
            output = head(hidden)
            return output if mean_entropy(self.ctc.log_softmax(output), lengths) < self.exit_threshold else None
        if self.exit_criterion == "similarity" and previous is not None:  # layer 1 has no previous layer
            return head(hidden) if mean_cosine(hidden, previous, lengths) > self.exit_threshold else None
        return None

    def _iter_layers(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[Iterator[torch.Tensor], torch.Tensor]:
        # As ESPnet's _extract_feats: drop the padding a data-parallel split may leave.
        return self.frontend.iter_layers(speech[:, : speech_lengths.max()], speech_lengths)


def _exit_range(exit_layers: Optional[Sequence[int]], num_layers: int) -> Tuple[int, int]:
    if exit_layers is None:
        return num_layers // 2 + 1, num_layers
    if len(exit_layers) != 2 or not 1 <= exit_layers[0] <= exit_layers[1] <= num_layers:
        raise ValueError(f"exit_layers must be [first, last] with 1 <= first <= last <= {num_layers} "
                         f"(the upstream's layers): {list(exit_layers)}")
    return exit_layers[0], exit_layers[1]


def _check_modules(model: ESPnetASRModel) -> int:
    """Raise unless the model has what early exiting runs (module doc); return the layer count."""
    frontend = model.frontend
    # A subclass (ssl_upstream_inject) changes what forward returns, which this model bypasses.
    if type(frontend) is not SSLUpstreamFrontend:
        raise ValueError(f"model {MODEL_NAME} needs frontend: ssl_upstream")
    num_layers = len(frontend.upstream.encoder.transformer.layers)
    if frontend.layer_weights is not None or frontend.num_layers_run != num_layers:
        raise ValueError(f"model {MODEL_NAME} picks the upstream layers itself (exit_layers): "
                         "remove weighted_sum and layer from frontend_conf")
    encoder = model.encoder
    if not (isinstance(encoder, LinearEncoder) and encoder.embed is None and not encoder.normalize_before):
        raise ValueError(f"model {MODEL_NAME} needs a pass-through encoder: encoder: linear with "
                         "input_layer: null, normalize_before: false and output_size = the upstream's width")
    unsupported = [name for name in ("specaug", "normalize", "preencoder", "postencoder")
                   if getattr(model, name) is not None]
    if unsupported:
        raise ValueError(f"model {MODEL_NAME} does not support {', '.join(unsupported)}: set them to null")
    if model.ctc_weight != 1.0:
        raise ValueError(f"model {MODEL_NAME} is CTC-only: set ctc_weight: 1.0")
    return num_layers
