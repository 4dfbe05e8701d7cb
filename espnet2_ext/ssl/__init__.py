"""Self-supervised pretraining of the project's default upstream (HuBERT-style, ESPnet's hubert task)."""
