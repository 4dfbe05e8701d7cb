"""A tiny training run through ESPnet's own programs (noise recordings, a two-token transcript):
data, shape files and options, for the tests of training itself (resume, distributed)."""

from pathlib import Path
from typing import List, Sequence

import numpy as np
import soundfile
import torch
import yaml
from context_tiny import ASR_TOKENS, TINY_FRONTEND, config
from helpers import write_lines

UTTS = [f"utt{i}" for i in range(8)]
BATCHES_PER_EPOCH = 4  # 8 utterances, batch_size 2


def tiny_data(root: Path) -> Path:
    """Noise recordings with a two-token transcript, and the shape files stage 10 would write."""
    data = root / "data"
    data.mkdir()
    rng = np.random.RandomState(0)
    lengths = [4000 + 400 * k for k in range(len(UTTS))]
    for utt, n in zip(UTTS, lengths):
        soundfile.write(data / f"{utt}.flac", 0.1 * rng.randn(n), 16000, subtype="PCM_16")
    write_lines(data / "wav.scp", [f"{u} {data / u}.flac" for u in UTTS])
    write_lines(data / "text", [f"{u} a b" for u in UTTS])
    write_lines(data / "speech_shape", [f"{u} {n}" for u, n in zip(UTTS, lengths)])
    write_lines(data / "text_shape", [f"{u} 3,5" for u in UTTS])
    (root / "tokens.txt").write_text(ASR_TOKENS)
    # Dropout in the upstream: the resumed run must draw its masks as the uninterrupted run did.
    # (The linear encoder's dropout_rate would not do: without an input layer it has no dropout.)
    conf = config("asr", frontend_conf={"arch_conf": {**TINY_FRONTEND["arch_conf"], "encoder_dropout": 0.1}})
    (root / "conf.yaml").write_text(yaml.safe_dump(conf))
    return data


def run_options(conf: Path, output_dir: Path) -> List[str]:
    """A resumable 3-epoch run of batches of 2 from ``conf``, single-process, without plots (a second each)."""
    return ["--config", str(conf), "--output_dir", str(output_dir), "--max_epoch", "3", "--batch_size", "2",
            "--num_workers", "0", "--num_att_plot", "0", "--use_matplotlib", "false", "--use_tensorboard", "false",
            "--resume", "true"]


def data_options(inputs: Sequence[str], shape_files: Sequence[Path]) -> List[str]:
    """ESPnet's ``path,name,type`` inputs and shape files, the same for training and validation."""
    options = []
    for mode in ("train", "valid"):
        options += [f"--{mode}_data_path_and_name_and_type={spec}" for spec in inputs]
        options += [f"--{mode}_shape_file={path}" for path in shape_files]
    return options


def training_options(root: Path, data: Path, output_dir: Path) -> List[str]:
    """The ASR run of ``tiny_data``: CTC over characters, Adam."""
    return [*run_options(root / "conf.yaml", output_dir),
            "--token_type", "char", "--token_list", str(root / "tokens.txt"), "--use_preprocessor", "true",
            "--fold_length", "80000", "--fold_length", "150", "--optim", "adam", "--optim_conf", "lr=0.01",
            *data_options([f"{data / 'wav.scp'},speech,sound", f"{data / 'text'},text,text"],
                          [data / "speech_shape", data / "text_shape"])]


def final_state(output_dir: Path) -> dict:
    return torch.load(output_dir / "checkpoint.pth", weights_only=False)
