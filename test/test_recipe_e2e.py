"""End to end: the mini_slue recipe on a tiny generated subset, stages 1-13, as a user runs it.

Runs in a copy of egs2/ so that the repository's recipe dirs (and RESULTS.md) stay untouched.
Then checks that stage 11 resumes from its checkpoint and that a corrupt recording stops
stage 3 with an error naming the file and line.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--local_data_opts", "--size tiny", "--test_sets", "test", "--nj", "2", "--inference_nj", "1"]


def run(cmd, cwd, env, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    shutil.copytree(
        ROOT / "egs2", tmp / "egs2", symlinks=True,
        ignore=shutil.ignore_patterns("data", "dump", "exp", "downloads", "RESULTS.md"),
    )
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MINI_SLUE": str(tmp / "corpus"),
    }
    path = tmp / "egs2" / "mini_slue" / "asr1"
    run(["./run.sh", "--stop_stage", "13", *TINY, "--train_args", "--max_epoch 1"], path, env)
    return path, env


def scores(path: Path, exp_glob: str, name: str) -> dict:
    (result,) = path.glob(f"exp/{exp_glob}/*/test/{name}/result.json")
    return json.loads(result.read_text())


def test_results_md_reports_every_task_metric_and_rtf(recipe):
    path, _ = recipe
    results = (path / "RESULTS.md").read_text()
    for heading in ("WER", "CER", "label-F1", "macro-F1", "RTF"):
        assert heading in results
    wer = scores(path, "asr_asr_*", "score_wer")
    assert wer["num_snt"] > 0 and 0 <= wer["err"]
    ner = scores(path, "asr_ner_*", "score_ner")
    assert 0 <= ner["f1"] <= 100 and 0 <= ner["label_f1"] <= 100
    sentiment = scores(path, "cls_sentiment_*", "score_sentiment")
    assert 0 <= sentiment["macro_f1"] <= 100
    (rtf,) = path.glob("exp/asr_asr_*/*/test/rtf.json")
    assert json.loads(rtf.read_text())["rtf"] > 0


def test_stage_11_resumes_from_the_checkpoint(recipe):
    path, env = recipe
    (exp,) = path.glob("exp/asr_asr_*")
    first_epoch = (exp / "1epoch.pth").stat().st_mtime_ns
    run(
        ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_asr.yaml", "--stage", "11", "--stop_stage", "11",
         "--train_args", "--max_epoch 2"],
        path, env,
    )
    # Resumed from checkpoint.pth: epoch 1 is not trained (nor saved) again, epoch 2 is.
    assert (exp / "1epoch.pth").stat().st_mtime_ns == first_epoch
    assert (exp / "2epoch.pth").exists()


def test_corrupt_recording_fails_stage_3_naming_file_and_line(recipe):
    path, env = recipe
    wav_scp = path / "data" / "test" / "wav.scp"
    lines = wav_scp.read_text().splitlines()
    corrupt = path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wav file")
    recid = lines[1].split()[0]
    lines[1] = f"{recid} {corrupt}"
    wav_scp.write_text("\n".join(lines) + "\n")
    proc = run(
        ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_asr.yaml", "--stage", "3", "--stop_stage", "3"],
        path, env, check=False,
    )
    assert proc.returncode != 0
    assert "data/test/wav.scp:2" in proc.stderr
    assert "Traceback" not in proc.stderr
