"""Self-supervised rewiring (Yang et al. 2022): contrastive tuning of a whole upstream.

Each utterance is paired with a positive view of the same content: its **twin** (a copy with one
contiguous 20 % span of samples zeroed), its **neutral** rendering (the transcript spoken by a
neutral TTS voice, synthesised once by :mod:`espnet2_ext.rewire.tts`), or, **mixed**, one of the
two by a coin flip per utterance. Both views go through the upstream; an utterance vector is the
uniform average of the transformer layers' outputs, averaged over the valid frames; NT-Xent with
temperature 0.04 pulls each pair together against the other utterances of the batch (the batch is
the paper's group: 4). The whole upstream learns, its CNN included; after training the upstream is
exported (:mod:`espnet2_ext.ssl.tuned_export`).

Deliberate differences from the official code (``YangHao97/rewireW2V2``), each noted where it
happens: gradients are zeroed every step (ESPnet's trainer does; the official scripts never call
``zero_grad``, so their gradients pile up across steps); the average leaves out the CNN
projection's hidden state (transformers' ``hidden_states[0]``), as the frontend yields the
transformer layers; long utterances are not halved (the official code halves those over 5.6 s).
"""

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from espnet.nets.pytorch_backend.nets_utils import make_pad_mask
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from typeguard import typechecked

from espnet2_ext.audio import pick_waves
from espnet2_ext.ssl.tuning_task import check_tuned_frontend
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

POSITIVES = ("twin", "neutral", "mixed")
TWIN_SPAN = 0.2  # the zeroed share of a twin's samples


class RewireModel(AbsESPnetModel):
    """``model: rewire``: contrastive rewiring of the task's ``frontend`` (``ssl_upstream``).

    Args:
        frontend: The upstream being rewired (all of it trains).
        positive: ``twin``, ``neutral`` or ``mixed`` (the paper's three variants).
        temperature: NT-Xent's temperature (the paper: 0.04).
    """

    @typechecked
    def __init__(self, frontend: SSLUpstreamFrontend, positive: str = "twin", temperature: float = 0.04):
        super().__init__()
        if positive not in POSITIVES:
            raise ValueError(f"model_conf.positive must be one of {POSITIVES}: {positive}")
        if temperature <= 0:
            raise ValueError(f"model_conf.temperature must be positive: {temperature}")
        check_tuned_frontend(frontend, "rewire", "pools every layer itself",
                             "trains the whole upstream", cnn_may_freeze=False)
        self.frontend = frontend
        self.positive = positive
        self.temperature = temperature

    def forward(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        neutral_speech: Optional[torch.Tensor] = None,
        neutral_speech_lengths: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        if len(speech) < 2:
            raise ValueError("rewiring needs at least 2 utterances per batch (the other utterances "
                             "are the negatives): raise batch_size or use more training data")
        # The global generator: ESPnet reseeds it at every epoch, so a resumed run draws the same.
        twin, twin_lengths = twin_view(speech, speech_lengths, torch.default_generator)
        if self.positive == "twin":
            positive = (twin, twin_lengths)
        else:
            if neutral_speech is None or neutral_speech_lengths is None:
                raise ValueError(f"model_conf.positive={self.positive} needs the neutral TTS speech: "
                                 "give the task neutral_speech (rewire.tts writes neutral.scp)")
            neutral = (neutral_speech, neutral_speech_lengths)
            use_neutral = (torch.ones(len(speech), dtype=torch.bool) if self.positive == "neutral"
                           else torch.rand(len(speech)) < 0.5)
            positive = pick_waves(use_neutral, neutral, (twin, twin_lengths))
        anchors = self.utterance_vectors(speech, speech_lengths)
        positives = self.utterance_vectors(*positive)
        loss = nt_xent(anchors, positives, self.temperature)
        with torch.no_grad():
            cosine = F.cosine_similarity(anchors, positives, dim=-1).mean()
        stats = {"loss": loss.detach(), "pos_cos": cosine}
        batch_size = torch.tensor(len(speech), device=loss.device)
        return force_gatherable((loss, stats, batch_size), loss.device)

    def utterance_vectors(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Per utterance: the uniform average of every transformer layer's output, averaged over
        its valid frames (the official pooling: s3prl's Featurizer at its initial, uniform
        weights, then a mean over time)."""
        layers, frames = self.frontend.iter_layers(wave, lengths)
        average = torch.stack(list(layers)).mean(0)
        if bool((frames < 1).any()):
            raise ValueError(f"utterances of {lengths[frames < 1].tolist()} samples leave no upstream "
                             "frame: raise the recipe's min_wav_duration")
        return pool(average, frames)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}  # statistics are shapes only: nothing is normalised with them


def pool(feats: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of (B, T, C) features."""
    valid = (~make_pad_mask(frames, maxlen=feats.size(1))).to(feats.device, feats.dtype)
    return (feats * valid[..., None]).sum(1) / frames.to(feats.device, feats.dtype).clamp(min=1)[:, None]


def nt_xent(anchors: torch.Tensor, positives: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR) over ``2B`` vectors: each of the ``2B`` ordered pairs (anchor i, positive
    i) and (positive i, anchor i) is scored against every other vector except itself, by cosine
    similarity / temperature; the mean of the ``2B`` cross-entropies. The same as the official
    ``pytorch_metric_learning.losses.NTXentLoss`` on ``cat([anchors, positives])`` with labels
    ``cat([arange(B), arange(B)])`` (written out here: a dozen lines, no extra dependency)."""
    z = F.normalize(torch.cat([anchors, positives]), dim=-1)
    logits = z @ z.T / temperature
    n = len(anchors)
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


def twin_view(wave: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    """Copies of the (padded) waves with one contiguous span of ``len // 5`` samples zeroed per
    item, starting uniformly in ``[0, 4 * span - 2]`` (the official
    ``random.sample(range(0, int(len/5)*4 - 1), 1)``); lengths are unchanged."""
    twin = wave.clone()
    for b, n in enumerate(lengths.tolist()):
        span = int(n * TWIN_SPAN)
        if span < 1:
            continue  # under 5 samples: nothing to mask (no upstream frame either)
        start = int(torch.randint(0, max(4 * span - 1, 1), (1,), generator=generator))
        twin[b, start:start + span] = 0.0
    return twin, lengths
