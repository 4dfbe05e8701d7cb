"""Small fixture writers shared by the tests (imported as ``helpers``; pytest puts tests/ on sys.path)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import soundfile
import torch

from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

ROOT = Path(__file__).resolve().parents[1]


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def write_sine(path: Path, n_samples: int, fs: int = 16000) -> Path:
    soundfile.write(path, 0.3 * np.sin(np.arange(n_samples) * 2 * np.pi * 440 / fs), fs)
    return path


def copy_recipes(tmp: Path) -> Tuple[Path, Dict[str, str]]:
    """A copy of egs2/ (without generated data) and an environment that runs its recipes
    with this interpreter's tools and a private corpus dir, as a user would."""
    shutil.copytree(
        ROOT / "egs2", tmp / "egs2", symlinks=True,
        ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", "RESULTS.md"),
    )
    shutil.copytree(ROOT / "conf", tmp / "conf")  # configs the recipes share (linked from their conf/)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MINI_SLUE": str(tmp / "corpus"),
    }
    return tmp / "egs2", env


def run(cmd: List[str], cwd: Path, env: Dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run a recipe command; on failure, fail the test with the end of its stderr."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


# A small random upstream for model tests: 3 layers of 64, the HuBERT CNN layout with 32 channels.
SMALL_UPSTREAM = {
    "extractor_conv_layer_config": [[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2,
    "encoder_embed_dim": 64, "encoder_num_layers": 3, "encoder_num_heads": 2,
    "encoder_ff_interm_features": 128, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4,
}


def small_frontend(**kwargs) -> SSLUpstreamFrontend:
    torch.manual_seed(0)
    return SSLUpstreamFrontend(weights="random", arch="tiny", arch_conf=SMALL_UPSTREAM, **kwargs)


def noise_batch(lengths=(16000, 12000, 9000)) -> Tuple[torch.Tensor, torch.Tensor]:
    """Padded noise waves of the given lengths (seeded) and their lengths."""
    torch.manual_seed(1)
    return 0.1 * torch.randn(len(lengths), max(lengths)), torch.tensor(lengths)


# A tiny transformers wav2vec2/HuBERT/WavLM config (kwargs of their config classes).
TINY_HF = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
               conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def tiny_sentence_encoder(root: Path, words: List[str]) -> str:
    """A tiny sentence-transformers directory (1-layer BERT over ``words``, mean pooling, unit
    length) in the layout of all-MiniLM-L6-v2's, for generative context's text targets."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words))]
    root.mkdir(parents=True, exist_ok=True)
    write_lines(root / "vocab.txt", vocab)
    torch.manual_seed(0)
    BertTokenizerFast(str(root / "vocab.txt")).save_pretrained(root / "bert")
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=32)).save_pretrained(root / "bert")
    modules = [models.Transformer(str(root / "bert")), models.Pooling(8, "mean"), models.Normalize()]
    SentenceTransformer(modules=modules).save(str(root / "st"))
    return str(root / "st")
