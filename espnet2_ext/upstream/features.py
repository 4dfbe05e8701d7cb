"""An upstream's layer outputs for evaluation (no training): QbE (SCORE), isotropy (rewiring)."""

from typing import List

import numpy as np
import torch

from espnet2_ext.upstream.frontend import SSLUpstreamFrontend


def load_frontend(upstream: str, normalize_waveform: bool = False, device: str = "cpu") -> SSLUpstreamFrontend:
    """The upstream as the fine-tuning recipes load it (``frontend_conf.weights``), in eval mode so
    that dropout and layer drop do not perturb the features."""
    frontend = SSLUpstreamFrontend(weights=upstream, normalize_waveform=normalize_waveform)
    return frontend.to(device).eval()


@torch.no_grad()
def layer_features(frontend: SSLUpstreamFrontend, audio: np.ndarray, device: str = "cpu") -> List[np.ndarray]:
    """Every transformer layer's output for one utterance (batch of one: no padding to mask)."""
    wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None].to(device)
    layers, _ = frontend.iter_layers(wave, torch.tensor([wave.shape[1]], device=device))
    return [layer[0].cpu().numpy() for layer in layers]
