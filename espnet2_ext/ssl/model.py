"""ESPnet's torchaudio HuBERT pretraining model with its loss weights exposed as ``model_conf``.

ESPnet's ``TorchAudioHubertPretrainModel`` always weighs the masked-frame loss 1 and the
unmasked-frame loss 0 (HuBERT's alpha = 1). On a CPU budget of a few thousand updates a tiny
model trained that way stays at the label prior (masked loss = unigram entropy) for its first
updates, in ESPnet and in a stand-alone torchaudio loop alike, while adding the unmasked term
(HuBERT's 1 - alpha) gives it a learning signal from the first updates; see
egs2/mini_slue/ssl1/README.md for the measurements.
"""

from typing import Optional

import torch
from espnet2.hubert.espnet_model import TorchAudioHubertPretrainModel


class WeightedHubertPretrainModel(TorchAudioHubertPretrainModel):
    """``model: torchaudio_weighted``: ``masked_weight``, ``unmasked_weight`` and
    ``feature_weight`` (defaults: ESPnet's 1, 0 and 10) weigh the summed cross-entropies of
    masked and unmasked frames and the feature penalty."""

    def __init__(self, *args, masked_weight: float = 1.0, unmasked_weight: float = 0.0,
                 feature_weight: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.masked_weight = masked_weight
        self.unmasked_weight = unmasked_weight
        self.feature_weight = feature_weight

    def _calc_hubert_loss(self, logit_m: Optional[torch.Tensor], logit_u: Optional[torch.Tensor],
                          feature_penalty: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return super()._calc_hubert_loss(
            logit_m, logit_u, feature_penalty, masked_weight=self.masked_weight,
            unmasked_weight=self.unmasked_weight, feature_weight=self.feature_weight,
        )
