"""End to end: the mini_slue recipe on a tiny generated subset, stages 1-13, as a user runs it.

Runs in a copy of egs2/ so that the repository's recipe dirs (and RESULTS.md) stay untouched.
Then checks that stage 11 resumes from its checkpoint and that bad data (a corrupt or missing
recording, an empty transcript, a duplicate id) stops stage 3 with an error naming the file and
line.
"""

import json
import os
from pathlib import Path

import pytest
from helpers import copy_recipes, run

from espnet2_ext.bin import infer

TINY = ["--local_data_opts", "--size tiny", "--test_sets", "test", "--nj", "2", "--inference_nj", "1"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    egs2, env = copy_recipes(tmp_path_factory.mktemp("e2e"))
    path = egs2 / "mini_slue" / "asr1"
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
    # run.sh's fast-inference comparison: the ASR default is its baseline, CER then WER.
    assert "|strategy|CER|ΔCER|WER|ΔWER|GMACs/s|" in results
    assert "|asr_asr_train_asr (baseline)|" in results


def test_stage_11_resumes_from_the_checkpoint(recipe):
    path, env = recipe
    (exp,) = path.glob("exp/asr_asr_*")
    run(
        ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_asr.yaml", "--stage", "11", "--stop_stage", "11",
         "--train_args", "--max_epoch 2"],
        path, env,
    )
    # Resumed from checkpoint.pth: epoch 1 is not trained again, epoch 2 is; the first run's
    # log is kept beside the new one.
    log = (exp / "train.log").read_text()
    assert "2epoch results" in log and "1epoch results" not in log
    assert "1epoch results" in (exp / "train.log.1").read_text()
    # The single CPU training process gets every core (other jobs keep path.sh's one thread).
    assert f"OMP_NUM_THREADS={len(os.sched_getaffinity(0))} " in (exp / "run.sh").read_text()


def test_packed_model_and_exp_dirs_serve_the_infer_command(recipe, capsys, monkeypatch):
    path, env = recipe
    (asr,) = path.glob("exp/asr_asr_*")
    (cls,) = path.glob("exp/cls_sentiment_*")
    run(["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "conf/train_asr.yaml", "--stage", "14", "--stop_stage", "14"], path, env)
    (packed,) = asr.glob("*.zip")
    wav = path / "dump/raw/test/wav.scp"
    utts = [line.split()[0] for line in wav.read_text().splitlines()]
    labels = set((path / "data/token_list/sentiment_label/tokens.txt").read_text().split())
    monkeypatch.chdir(path)  # exp configs name files relative to the recipe dir
    for model in (packed, asr, cls):
        capsys.readouterr()
        assert infer.main(["--model", str(model), "--wav_scp", str(wav)]) == 0
        lines = capsys.readouterr().out.splitlines()[-len(utts):]
        assert [line.split()[0] for line in lines] == utts
        if model == cls:
            assert {line.split()[1] for line in lines} <= labels


def corrupt_wav(data: Path, lines: dict) -> str:
    corrupt = data.parent.parent / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wav file")
    recid = lines["wav.scp"][1].split()[0]
    lines["wav.scp"][1] = f"{recid} {corrupt}"
    return "wav.scp:2"


def missing_wav(data: Path, lines: dict) -> str:
    recid = lines["wav.scp"][1].split()[0]
    lines["wav.scp"][1] = f"{recid} {data / 'nowhere.wav'}"
    return "wav.scp:2"


def empty_transcript(data: Path, lines: dict) -> str:
    lines["text"][2] = lines["text"][2].split()[0]
    return "text:3"


def duplicate_id(data: Path, lines: dict) -> str:
    lines["text"].insert(1, lines["text"][0])
    return "text:2"


@pytest.mark.parametrize("damage", [corrupt_wav, missing_wav, empty_transcript, duplicate_id])
def test_bad_data_fails_stage_3_naming_file_and_line(recipe, damage):
    path, env = recipe
    data = path / "data" / "test"
    original = {name: (data / name).read_text() for name in ("wav.scp", "text")}
    lines = {name: text.splitlines() for name, text in original.items()}
    where = damage(data, lines)
    try:
        for name, content in lines.items():
            (data / name).write_text("\n".join(content) + "\n")
        proc = run(
            ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
             "--train_config", "conf/train_asr.yaml", "--stage", "3", "--stop_stage", "3"],
            path, env, check=False,
        )
    finally:
        for name, content in original.items():
            (data / name).write_text(content)
    assert proc.returncode != 0
    assert f"data/test/{where}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_sh_rejects_an_unknown_target(tmp_path):
    egs2, env = copy_recipes(tmp_path)
    proc = run(["./run.sh", "--targets", "asr sentiments"], egs2 / "mini_slue" / "asr1", env, check=False)
    assert proc.returncode == 2 and "unknown target 'sentiments'" in proc.stderr
