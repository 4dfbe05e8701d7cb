"""``--model ctx_aware``: ESPnet's ASR (CTC) and classification models with a context module.

The context module runs on the upstream's last-layer output (``context_input: upstream``, the
default: "a context module on top of the last layer", in the paper's abstract), whatever the frontend
hands on to the head (one layer, or a learnable weighted sum of layers) and whatever the encoder
does to it (a pass-through, or the Linear-LayerNorm-ReLU of ``input_layer: linear``); with
``context_input: encoder`` it runs on the encoder output instead. Its vector c_t is fused into
the encoder output frames, just before the CTC output layer or the classifier, inside
``encode()``, which the stock decoding programs call, so inference needs nothing but the segment.

In training, an auxiliary loss lambda * L_ctx pulls c_t towards its neighbours' vectors. ESPnet's
CTC loss is a sum over the tokens of an utterance (tens to hundreds of nats) while L_ctx is at most
2 (cosine), so by default (``context_loss_normalize``) L_ctx is weighed against the task loss per
target token: the term added is lambda * L_ctx * (the batch's mean number of target tokens), which
makes lambda the weight against the per-token CTC loss (the unit fairseq normalises by) and leaves
the task's gradient as in standard fine-tuning. Classification's loss is per utterance already.
Training also logs figures of c_t that show a collapsing module (``diagnostics.py``) and the
batches' share of padding. Where the neighbours' vectors come from is ``context_source``:

* ``neighbours`` (mode a): the neighbours' audio is an extra training input (``speech_prev``,
  ``speech_next``, ... of type ``sound``) with a ``ctx_mask`` (``text_int``, one 0/1 per offset:
  whether that neighbour exists; a missing one is given as the segment's own audio, never encoded).
  The neighbours go through the same upstream and context module, in eval mode and without
  gradients (so no dropout in the targets, and the upstream's freeze_steps counter counts
  training batches only): about one extra forward pass per neighbour and step.
* ``batch`` (mode b): ``--batch_type recording`` puts consecutive segments of a recording in one
  batch, and ``utt2pos`` (``text_int``: recording number, index) tells which items are
  neighbours; their vectors are computed anyway, so no extra encoder pass. InfoNCE negatives
  are the other items of the batch.
* ``text`` (generative context, the follow-up paper): c_t, through a linear map to the text
  embedding's size, is pulled towards ``ctx_text`` (``text_float``: a frozen sentence encoder's
  embedding of the neighbours' transcripts, ``text_targets.py``); the map is used in training only.
* ``none``: the context module without auxiliary loss (an ablation).

The context inputs are read in training mode only: validation and decoding see ``speech`` alone.
"""

import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from espnet2.asr.espnet_model import ESPnetASRModel
from espnet2.cls.espnet_model import ESPnetClassificationModel
from espnet2.torch_utils.device_funcs import force_gatherable

from espnet2_ext.context import (
    CONTEXT_DATA_NAMES, CTX_MASK, CTX_TEXT, DEFAULT_OFFSETS, DEFAULT_SOURCE, POSITIONS, neighbour_key,
)
from espnet2_ext.context.diagnostics import context_diagnostics, padded_share
from espnet2_ext.context.losses import LOSSES, context_loss, copies_of_anchor_or_positive, pairs_from_positions
from espnet2_ext.context.module import ContextFusion, ContextModule
from espnet2_ext.context.text_targets import DEFAULT_ENCODER

SOURCES = ("neighbours", "batch", "text", "none")
CONTEXT_INPUTS = ("upstream", "encoder")


class ContextAwareMixin:
    """Context module, fusion and auxiliary loss on top of an ESPnet model (see module doc).

    Args (``model_conf``, besides the ESPnet model's own):
        context_dim, context_transformer, context_heads, context_dropout: see ``ContextModule``.
        fusion, fusion_identity_init: see ``ContextFusion`` (default ``concat``, identity init).
        context_source: ``neighbours`` (default), ``batch``, ``text`` or ``none``.
        context_offsets: Neighbours pulled towards, as offsets in the recording (default [-1, 1];
            e.g. [-1] previous only, [-2, -1, 1, 2] a window of two).
        context_loss: ``cosine`` (default), ``infonce`` or ``l2`` (see ``losses.context_loss``).
        context_weight: lambda (default 1.0; not published, worth sweeping, e.g. 0.1, 1, 10).
        context_loss_normalize: Weigh L_ctx against the task loss per target token (default
            true; above); false adds lambda * L_ctx to ESPnet's per-utterance loss as it is.
        context_temperature: InfoNCE temperature (default 0.1).
        context_stop_gradient: Detach the neighbours' vectors (default true; mode a always
            encodes them without gradients, so false only changes mode b).
        context_text_dim: Size of the ``text`` targets (default 384, all-MiniLM-L6-v2's).
        context_text_encoder: The sentence encoder that wrote them (read by the data preparation,
            ``espnet2_ext.context.data``; kept here so the config says which).
        context_input: What the context module reads: ``upstream`` (default) the last layer
            the SSL upstream frontend runs (``ssl_upstream``/``ssl_upstream_inject``; before
            SpecAugment, which these configs do not use), or ``encoder`` the encoder output
            (the frames the fusion and the head see; any frontend).
    """

    def __init__(
        self,
        *,
        context_dim: int = 256,
        context_transformer: bool = False,
        context_heads: int = 4,
        context_dropout: float = 0.1,
        fusion: str = "concat",
        fusion_identity_init: bool = True,
        context_source: str = DEFAULT_SOURCE,
        context_offsets: Sequence[int] = DEFAULT_OFFSETS,
        context_loss: str = "cosine",
        context_weight: float = 1.0,
        context_loss_normalize: bool = True,
        context_temperature: float = 0.1,
        context_stop_gradient: bool = True,
        context_input: str = "upstream",
        context_text_dim: int = 384,
        context_text_encoder: str = DEFAULT_ENCODER,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if context_input not in CONTEXT_INPUTS:
            raise ValueError(f"context_input must be one of {CONTEXT_INPUTS}: {context_input}")
        if context_input == "upstream" and not hasattr(self.frontend, "forward_with_top_layer"):
            raise ValueError("context_input: upstream needs an SSL upstream frontend (ssl_upstream, "
                             f"ssl_upstream_inject), not {type(self.frontend).__name__}; "
                             "use context_input: encoder")
        if context_source not in SOURCES:
            raise ValueError(f"context_source must be one of {SOURCES}: {context_source}")
        if context_loss not in LOSSES:
            raise ValueError(f"context_loss must be one of {LOSSES}: {context_loss}")
        if len(set(context_offsets)) != len(context_offsets) or not context_offsets:
            raise ValueError(f"context_offsets must be distinct and non-empty: {context_offsets}")
        self.neighbour_keys = [neighbour_key(o) for o in context_offsets]  # validates the offsets
        frame_dim = self._frame_dim()
        input_dim = self.frontend.output_size() if context_input == "upstream" else frame_dim
        self.context_module = ContextModule(input_dim, context_dim, context_transformer, context_heads, context_dropout)
        self.context_fusion = ContextFusion(frame_dim, context_dim, fusion, fusion_identity_init)
        # Generative context: c_t mapped to the text embedding's space for the loss only.
        self.context_text_projection = torch.nn.Linear(context_dim, context_text_dim) if context_source == "text" else None
        self.context_text_encoder = context_text_encoder
        self.context_source = context_source
        self.context_offsets = list(context_offsets)
        self.context_loss = context_loss
        self.context_weight = context_weight
        self.context_loss_normalize = context_loss_normalize
        self.context_temperature = context_temperature
        self.context_stop_gradient = context_stop_gradient
        self.context_input = context_input
        self._context: Optional[torch.Tensor] = None  # c_t of the batch being trained on
        # The upstream's top layer and its lengths, from _extract_feats to encode.
        self._top_layer: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    def _frame_dim(self) -> int:
        """Dimension of ``encode()``'s output: the last of postencoder, encoder, frontend."""
        for name in ("postencoder", "encoder", "frontend"):
            module = getattr(self, name, None)
            if module is not None:
                return module.output_size()
        raise ValueError("ctx_aware needs a frontend or an encoder to know the frame dimension")

    def encode(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The stock encoder output with c_t fused into every frame."""
        self._top_layer = None
        frames, lengths = self._frames(speech, speech_lengths)
        if self.context_input == "upstream":
            top, top_lengths = self._top_layer
            self._top_layer = None
            context = self.context_module(top, top_lengths)
        else:
            context = self.context_module(frames, lengths)
        if self.training:
            self._context = context
        return self.context_fusion(frames, context), lengths

    def context_vectors(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> torch.Tensor:
        """c_t (B, d_c) of each segment, as ``encode`` computes it (the frontend alone when the
        context module reads the upstream)."""
        if self.context_input == "encoder":
            return self.context_module(*self._frames(speech, speech_lengths))
        _, lengths, top = self._frontend_with_top_layer(speech, speech_lengths)
        return self.context_module(top, lengths)

    def _extract_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The stock frontend step; with ``context_input: upstream`` it keeps the top layer."""
        if self.context_input != "upstream" or speech_lengths is None:
            return super()._extract_feats(speech, speech_lengths)
        feats, lengths, top = self._frontend_with_top_layer(speech, speech_lengths)
        self._top_layer = (top, lengths)
        return feats, lengths

    def _frontend_with_top_layer(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The frontend's features, lengths and top layer, on the batch cut to its longest item
        (as ESPnet's ``_extract_feats`` cuts it)."""
        return self.frontend.forward_with_top_layer(speech[:, : speech_lengths.max()], speech_lengths)

    def _frames(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        frames, lengths = super().encode(speech, speech_lengths)
        if isinstance(frames, tuple):
            raise NotImplementedError("ctx_aware does not support intermediate CTC outputs")
        return frames, lengths

    def forward(self, *args, **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        """The stock forward (task loss); in training, plus lambda * L_ctx."""
        inputs = {k: kwargs.pop(k) for k in list(kwargs) if k.removesuffix("_lengths") in CONTEXT_DATA_NAMES}
        self._context = None
        loss, stats, weight = super().forward(*args, **kwargs)
        context, self._context = self._context, None
        if not self.training or self.context_source == "none":
            return loss, stats, weight
        aux, pulled, bank, pairs = self._auxiliary_loss(context, inputs)
        scale = self._task_units(kwargs) if self.context_loss_normalize else 1.0
        total = loss + self.context_weight * scale * aux
        recordings = inputs[POSITIONS][:, 0] if POSITIONS in inputs else None
        stats = {**stats, "loss_task": stats["loss"], "loss_ctx": aux.detach(), "loss": total.detach(),
                 **context_diagnostics(context, bank, pairs, recordings, pulled),
                 "pad_share": padded_share(kwargs["speech_lengths"]) if "speech_lengths" in kwargs else None}
        return force_gatherable((total, stats, weight), total.device)

    def _task_units(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """What the task loss is summed over per utterance, on average over the batch."""
        raise NotImplementedError

    def _auxiliary_loss(
        self, context: torch.Tensor, inputs: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """L_ctx, the vectors pulled (c_t, or its text-space map), those they are pulled towards, and
        the (segment, target) pairs."""
        if self.context_source == "batch":
            positions = _required(inputs, POSITIONS, self.context_source)
            pairs = pairs_from_positions(positions[:, :2], self.context_offsets)
            exclude = torch.eye(len(context), dtype=torch.bool, device=context.device)
            return self._loss(context, context, pairs, exclude), context, context, pairs
        if self.context_source == "text":
            targets = _required(inputs, CTX_TEXT, self.context_source).to(context.dtype)
            if targets.size(-1) != self.context_text_projection.out_features:
                raise ValueError(f"{CTX_TEXT} vectors have {targets.size(-1)} dimensions, context_text_dim is "
                                 f"{self.context_text_projection.out_features}: rewrite them for this config")
            rows = torch.nonzero(targets.abs().sum(-1) > 0).squeeze(1)  # zeros: no neighbour
            pairs = torch.stack([rows, rows], 1)
            pulled = self.context_text_projection(context)
            return self._loss(pulled, targets, pairs, None), pulled, targets, pairs
        bank, pairs, sources = self._neighbour_vectors(inputs)
        exclude = None
        if self.context_loss == "infonce":  # a batch item may also be in the bank: not a negative
            positions = _required(inputs, POSITIONS, self.context_source)[:, :2]
            bank_ids = positions[sources[:, 0]] + torch.stack([torch.zeros_like(sources[:, 1]), sources[:, 1]], 1)
            exclude = copies_of_anchor_or_positive(positions, bank_ids, pairs)
        return self._loss(context, bank, pairs, exclude), context, bank, pairs

    def _loss(self, anchors: torch.Tensor, bank: torch.Tensor, pairs: torch.Tensor,
              exclude: Optional[torch.Tensor]) -> torch.Tensor:
        return context_loss(self.context_loss, anchors, bank, pairs, self.context_temperature, exclude,
                            self.context_stop_gradient)

    def _neighbour_vectors(
        self, inputs: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context vectors of the existing neighbours (M, d_c), (segment, vector) index pairs, and
        each vector's (segment, offset)."""
        mask = _required(inputs, CTX_MASK, self.context_source)
        if mask.dim() != 2 or mask.size(1) != len(self.context_offsets):
            raise ValueError(f"{CTX_MASK} has {mask.size(-1)} columns for {len(self.context_offsets)} "
                             f"context_offsets {self.context_offsets}: rewrite it for this config")
        vectors: List[torch.Tensor] = []
        pairs: List[torch.Tensor] = []
        sources: List[torch.Tensor] = []
        count = 0
        with torch.no_grad(), _eval_mode(self):
            for column, key in enumerate(self.neighbour_keys):
                rows = torch.nonzero(mask[:, column] > 0).squeeze(1)
                if len(rows) == 0:
                    continue
                speech = _required(inputs, key, self.context_source)[rows]
                lengths = inputs[f"{key}_lengths"][rows]
                vectors.append(self.context_vectors(speech, lengths))
                pairs.append(torch.stack([rows, count + torch.arange(len(rows), device=rows.device)], 1))
                sources.append(torch.stack([rows, torch.full_like(rows, self.context_offsets[column])], 1))
                count += len(rows)
        if not vectors:
            empty = mask.new_zeros((0, 2), dtype=torch.long)
            return mask.new_zeros((0, 1), dtype=torch.float), empty, empty
        return torch.cat(vectors), torch.cat(pairs), torch.cat(sources)


def _required(inputs: Dict[str, torch.Tensor], key: str, source: str) -> torch.Tensor:
    if key not in inputs:
        raise ValueError(f"training with context_source={source} needs the '{key}' input "
                         "(written by python -m espnet2_ext.context.data)")
    return inputs[key]


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class ContextAwareASRModel(ContextAwareMixin, ESPnetASRModel):
    """ESPnet's ASR model (CTC for ASR and NER) with context-aware fine-tuning."""

    def _task_units(self, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """ESPnet's CTC loss is summed over an utterance's target tokens."""
        return batch["text_lengths"].float().mean()


class ContextAwareCLSModel(ContextAwareMixin, ESPnetClassificationModel):
    """ESPnet's classification model (sentiment) with context-aware fine-tuning."""

    def _task_units(self, batch: Dict[str, torch.Tensor]) -> float:
        """The classification loss is a mean over utterances: one unit each."""
        return 1.0
