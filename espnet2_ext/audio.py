"""Facts about the audio every upstream takes, shared by the programs that count it."""

from typing import Any, Tuple

import torch

SAMPLE_RATE = 16000  # Hz: what wav2vec 2.0, HuBERT and WavLM were pretrained on
# Samples under the first frame of their CNN (then one frame per 320): shorter audio has no frame.
RECEPTIVE_FIELD = 400


def audio_samples(model: Any, speech: Any) -> int:
    """Samples of the audio that one utterance's input (``speech``: (samples[, channels])) holds.

    A frontend whose input carries more than the audio to recognise (context injection adds the
    neighbours' audio) says how much of it is the utterance's, with ``num_audio_samples``.
    """
    count = getattr(getattr(model, "frontend", None), "num_audio_samples", None)
    return int(count(speech)) if count is not None else int(speech.shape[0])


Waves = Tuple[torch.Tensor, torch.Tensor]  # padded (B, samples) waves and their lengths


def valid_samples(lengths: torch.Tensor, maxlen: int) -> torch.Tensor:
    """(B, maxlen) bool, True at each utterance's samples, False in its padding.

    ESPnet 202511's ``make_pad_mask`` computes this through a (maxlen + 1)^2 matrix (its
    ONNX-traceable path): 25.6 GB for 10 s of 16 kHz audio. This costs B x maxlen.
    """
    return torch.arange(maxlen, device=lengths.device)[None, :] < lengths[:, None]


def pick_waves(mask: torch.Tensor, when_true: Waves, when_false: Waves) -> Waves:
    """Per item, the wave (and length) of ``when_true`` where ``mask`` else of ``when_false``,
    re-padded to the longest chosen (a method's two views of one batch: SCORE, rewiring)."""
    lengths = torch.where(mask.to(when_true[1].device), when_true[1], when_false[1])
    out = when_true[0].new_zeros(len(lengths), int(lengths.max()))
    for b, n in enumerate(lengths.tolist()):
        source = when_true[0] if mask[b] else when_false[0]
        out[b, :n] = source[b, :n]
    return out, lengths
