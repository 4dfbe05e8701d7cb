"""Layer removal (Zaiem et al. 2023, METHODS.md §3.3 B): keep the first N transformer layers."""

from torchaudio.models import Wav2Vec2Model


def keep_first_layers(upstream: Wav2Vec2Model, num_layers: int) -> None:
    """Delete the transformer layers above the first ``num_layers``, before fine-tuning.

    They leave the model, so its parameters and state dict. A pre-LN model (wav2vec 2.0 Large,
    WavLM) keeps its final LayerNorm, which then normalises layer N's output, as the paper's cut
    transformers model does.
    """
    transformer = upstream.encoder.transformer
    if not 1 <= num_layers <= len(transformer.layers):
        raise ValueError(f"keep_layers={num_layers} is out of range for {len(transformer.layers)} layers")
    transformer.layers = transformer.layers[:num_layers]
