"""Facts about the audio every upstream takes, shared by the programs that count it."""

from typing import Any

SAMPLE_RATE = 16000  # Hz: what wav2vec 2.0, HuBERT and WavLM were pretrained on


def audio_samples(model: Any, speech: Any) -> int:
    """Samples of the audio that one utterance's input (``speech``: (samples[, channels])) holds.

    A frontend whose input carries more than the audio to recognise (context injection adds the
    neighbours' audio) says how much of it is the utterance's, with ``num_audio_samples``.
    """
    count = getattr(getattr(model, "frontend", None), "num_audio_samples", None)
    return int(count(speech)) if count is not None else int(speech.shape[0])
