"""SCORE (Meghanani & Hain 2024): correspondence fine-tuning of an upstream's top layers.

Each utterance is paired with its perturbed view (:mod:`espnet2_ext.score.perturb`: speed, then
pitch). The student, the upstream being tuned, sees one view and a frozen copy of the starting
upstream, the teacher, the other (which one: a coin flip per utterance, as the official dataset's
random pair order). Both last-layer outputs go through one shared trainable projection and
per-frame L2 normalisation; the loss is the normalised soft-DTW divergence between the two
sequences divided by their summed lengths (:func:`espnet2_ext.score.soft_dtw.score_loss`).
Only the top ``trainable_layers`` transformer layers (and the projection) learn; after training
the projection is dropped and the student's upstream is exported (:mod:`espnet2_ext.ssl.tuned_export`).

Deliberate differences from the official code (``Trikaldarshi/SCORE_Finetuning``), each noted
where it happens: the teacher runs in eval mode (the official one keeps dropout on, unintended by
all appearances); the two LayerNorms below the first layer stay frozen (the official parameter
indices leave them trainable, which costs a backward pass through every frozen layer); batches of
any size with per-item lengths (the official code runs batch size 1).
"""

import copy
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from typeguard import typechecked

from espnet2_ext.audio import pick_waves
from espnet2_ext.score.perturb import perturb_batch
from espnet2_ext.score.soft_dtw import score_loss
from espnet2_ext.ssl.tuning_task import check_tuned_frontend
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend
from espnet2_ext.upstream.layers import iter_layer_outputs

PROJECTIONS = ("linear", "mlp")  # HuBERT's connector, WavLM's (Linear-ReLU-Linear)


class ScoreModel(AbsESPnetModel):
    """``model: score``: the student is the task's ``frontend`` (``ssl_upstream``, last layer).

    Args:
        frontend: The student; its ``weights`` are the starting upstream, copied as the teacher.
        trainable_layers: How many top transformer layers learn (the paper: 2).
        projection_dim: Output size of the shared projection (the paper: 256 for Base models).
        projection: ``linear`` (HuBERT in the paper) or ``mlp`` (WavLM: Linear-ReLU-Linear).
        gamma: Soft-DTW smoothing (the paper: 0.1).
        speeds: Speed factors, one drawn per utterance (HuBERT: 0.9/1.0/1.1; WavLM adds 0.85/1.15).
        semitones: Pitch shifts, one drawn per utterance (the paper: -2 or +2).
    """

    @typechecked
    def __init__(
        self,
        frontend: SSLUpstreamFrontend,
        trainable_layers: int = 2,
        projection_dim: int = 256,
        projection: str = "linear",
        gamma: float = 0.1,
        speeds: Sequence[float] = (0.9, 1.0, 1.1),
        semitones: Sequence[int] = (-2, 2),
    ):
        super().__init__()
        check_tuned_frontend(frontend, "score", "reads the upstream's last layer",
                             "sets the trainable layers itself", cnn_may_freeze=True)
        layers = frontend.upstream.encoder.transformer.layers
        if not 1 <= trainable_layers <= len(layers):
            raise ValueError(
                f"model_conf.trainable_layers={trainable_layers} does not fit the upstream of "
                f"frontend_conf.weights, which has {len(layers)} transformer layers"
            )
        if projection not in PROJECTIONS:
            raise ValueError(f"model_conf.projection must be one of {PROJECTIONS}: {projection}")
        self.frontend = frontend
        # Frozen before any update, so the teacher is the starting upstream; it is part of the
        # state dict, so a resumed run gets the same teacher back.
        self.teacher = copy.deepcopy(frontend.upstream).requires_grad_(False).eval()
        frontend.upstream.requires_grad_(False)
        layers[len(layers) - trainable_layers:].requires_grad_(True)
        transformer = frontend.upstream.encoder.transformer
        if not transformer.layer_norm_first:  # pre-LN: the final LayerNorm acts on the top layer
            transformer.layer_norm.requires_grad_(True)
        width = frontend.output_size()
        self.projection = (
            torch.nn.Linear(width, projection_dim) if projection == "linear"
            else torch.nn.Sequential(torch.nn.Linear(width, projection_dim), torch.nn.ReLU(),
                                     torch.nn.Linear(projection_dim, projection_dim))
        )
        self.gamma = gamma
        self.speeds = tuple(speeds)
        self.semitones = tuple(semitones)

    def train(self, mode: bool = True) -> "ScoreModel":
        super().train(mode)
        self.teacher.eval()  # the official teacher keeps dropout on; a target should not be noisy
        return self

    def forward(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        # The global generator: ESPnet reseeds it at every epoch, so a resumed run draws the same.
        perturbed, perturbed_lengths = perturb_batch(
            speech, speech_lengths, torch.default_generator, self.speeds, self.semitones)
        student_sees_perturbed = torch.rand(len(speech)) < 0.5
        student = pick_waves(student_sees_perturbed, (perturbed, perturbed_lengths), (speech, speech_lengths))
        target = pick_waves(~student_sees_perturbed, (perturbed, perturbed_lengths), (speech, speech_lengths))
        student_feats, student_frames = self.frontend(*student)
        with torch.no_grad():
            target_feats, target_frames = self._teacher_last_layer(*target)
        _check_frames(student, student_frames)
        _check_frames(target, target_frames)
        loss = score_loss(self._embed(student_feats), self._embed(target_feats),
                          student_frames, target_frames, self.gamma)
        batch_size = torch.tensor(len(speech), device=loss.device)
        return force_gatherable((loss, {"loss": loss.detach()}, batch_size), loss.device)

    def _teacher_last_layer(self, wave: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        feats, frames = self.teacher.feature_extractor(wave, lengths)
        *_, last = iter_layer_outputs(self.teacher, feats, frames)
        return last, frames

    def _embed(self, feats: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(feats), p=2, dim=-1)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        return {}  # statistics are shapes only: nothing is normalised with them


def _check_frames(inputs: Tuple[torch.Tensor, torch.Tensor], frames: torch.Tensor) -> None:
    if bool((frames < 1).any()):
        samples = inputs[1][frames.to(inputs[1].device) < 1].tolist()
        raise ValueError(
            f"utterances of {samples} samples leave no upstream frame after speed perturbation: "
            f"raise the recipe's min_wav_duration (or drop the fastest of model_conf.speeds)"
        )
