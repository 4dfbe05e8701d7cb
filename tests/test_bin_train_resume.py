"""Kill and resume: ESPnet's training program killed with SIGKILL in the middle of an epoch and run
again with the same command resumes from its last epoch checkpoint and ends with the model, bit for
bit, of a run that was never interrupted (on CPU; dropout and batch shuffling included, so the
same command also gives the same model twice)."""

import subprocess
import sys
from pathlib import Path
from typing import List

import numpy as np
import soundfile
import torch
import yaml
from context_tiny import ASR_TOKENS, config
from helpers import write_lines

from espnet2_ext.tasks import ASRTask

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
    # Dropout in the head: the resumed run must restore the random state as well as the weights.
    conf = config("asr", encoder_conf={"dropout_rate": 0.2})
    (root / "conf.yaml").write_text(yaml.safe_dump(conf))
    return data


def training_options(root: Path, data: Path, output_dir: Path) -> List[str]:
    options = ["--config", str(root / "conf.yaml"), "--output_dir", str(output_dir),
               "--token_type", "char", "--token_list", str(root / "tokens.txt"), "--use_preprocessor", "true",
               "--max_epoch", "3", "--batch_size", "2", "--fold_length", "80000", "--fold_length", "150", "--optim", "adam", "--optim_conf", "lr=0.01",
               "--num_workers", "0", "--num_att_plot", "0", "--use_tensorboard", "false", "--resume", "true"]
    for mode in ("train", "valid"):
        options += [f"--{mode}_data_path_and_name_and_type={data / 'wav.scp'},speech,sound",
                    f"--{mode}_data_path_and_name_and_type={data / 'text'},text,text",
                    f"--{mode}_shape_file={data / 'speech_shape'}", f"--{mode}_shape_file={data / 'text_shape'}"]
    return options


def final_state(output_dir: Path) -> dict:
    return torch.load(output_dir / "checkpoint.pth", weights_only=False)


def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_model(tmp_path):
    data = tiny_data(tmp_path)
    ASRTask.main(cmd=training_options(tmp_path, data, tmp_path / "uninterrupted"))

    interrupted = tmp_path / "interrupted"
    options = training_options(tmp_path, data, interrupted)
    killed = subprocess.run([sys.executable, str(Path(__file__).with_name("killed_training.py")),
                             str(BATCHES_PER_EPOCH + 2), *options], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert final_state(interrupted)["reporter"]["epoch"] == 1  # killed two updates into epoch 2

    resumed = subprocess.run([sys.executable, "-m", "espnet2_ext.bin.asr_train", *options],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1epoch results" not in resumed.stderr and "2epoch results" in resumed.stderr

    expected, got = final_state(tmp_path / "uninterrupted"), final_state(interrupted)
    assert got["reporter"]["epoch"] == 3
    assert expected["model"].keys() == got["model"].keys()
    for name, tensor in expected["model"].items():
        assert torch.equal(tensor, got["model"][name]), name
    for epoch in (1, 2, 3):  # the same losses in every epoch's report
        assert expected["reporter"]["stats"][epoch]["valid"]["loss"] == got["reporter"]["stats"][epoch]["valid"]["loss"]
