"""End to end: the mini_slue recipe on a tiny generated subset, stages 1-13, as a user runs it.

Runs in a copy of egs2/ so that the repository's recipe dirs (and RESULTS.md) stay untouched.
Then checks that re-running every stage changes nothing, that the packed model (stage 14), its hub
repository tree (stage 15, a dry run) and the exp dirs give the same outputs, and that bad data (a
corrupt or missing recording, an empty transcript, a duplicate id) stops stage 3 with an error
naming the file and line.
"""

import functools
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from espnet_model_zoo import downloader
from helpers import copy_recipes, run
from test_recipe_upload import cache_snapshot

from espnet2_ext.bin import infer
from espnet2_ext.corpora.slue_metrics import score_ner, score_sentiment
from espnet2_ext.kaldi_files import read_map

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


def edit_distance(ref: list, hyp: list) -> int:
    """Levenshtein distance between two token lists (substitutions, deletions, insertions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def decoded(path: Path, exp_glob: str, ref_name: str):
    """(reference, hypothesis) maps of the test set for one experiment, and its decode dir."""
    (decode_dir,) = path.glob(f"exp/{exp_glob}/*/test")
    ref = read_map(path / "dump/raw/test" / ref_name)
    return ref, read_map(decode_dir / "text", allow_empty=True), decode_dir


def test_results_md_reports_every_task_metric_and_rtf(recipe):
    path, _ = recipe
    results = (path / "RESULTS.md").read_text()
    for heading in ("WER", "CER", "label-F1", "macro-F1", "RTF"):
        assert heading in results
    # The reported figures are those of the decoded test set, recomputed here from its files.
    ref, hyp, _ = decoded(path, "asr_asr_*", "text")
    assert sorted(hyp) == sorted(ref)
    wer = scores(path, "asr_asr_*", "score_wer")
    assert wer["num_snt"] == len(ref)
    errors = sum(edit_distance(ref[u].split(), hyp[u].split()) for u in ref)
    assert wer["err"] == pytest.approx(100 * errors / sum(len(ref[u].split()) for u in ref), abs=0.01)
    ner_ref, ner_hyp, _ = decoded(path, "asr_ner_*", "text.ner")
    ner = scores(path, "asr_ner_*", "score_ner")
    assert ner["f1"] == pytest.approx(score_ner(ner_ref, ner_hyp)["f1"])
    sent_ref, sent_hyp, _ = decoded(path, "cls_sentiment_*", "text.sentiment")
    labels = set((path / "data/token_list/sentiment_label/tokens.txt").read_text().split())
    assert set(sent_hyp.values()) <= labels
    sentiment = scores(path, "cls_sentiment_*", "score_sentiment")
    assert sentiment["macro_f1"] == pytest.approx(score_sentiment(sent_ref, sent_hyp)["macro_f1"])
    # RTF counts the test set's audio, as the dump dir's lengths give it.
    _, _, decode_dir = decoded(path, "asr_asr_*", "text")
    rtf = json.loads((decode_dir / "rtf.json").read_text())
    samples = sum(int(n) for n in read_map(path / "dump/raw/test/utt2num_samples").values())
    assert rtf["audio_seconds"] == pytest.approx(samples / 16000) and rtf["rtf"] > 0
    # The training section: one epoch each (--max_epoch 1), the curves plotted beside RESULTS.md.
    assert any(line.startswith("|asr_asr_train_asr|1|") for line in results.splitlines())
    assert (path / "RESULTS.curves.png").read_bytes()[:4] == b"\x89PNG"
    # run.sh's fast-inference comparison: the ASR default is its baseline, CER then WER.
    assert "|strategy|CER|ΔCER|WER|ΔWER|GMACs/s|" in results
    assert "|asr_asr_train_asr (baseline)|" in results


def outputs_of_the_asr_run(path: Path) -> dict:
    """What a finished run of the ASR target produced: data, dump lists, model, decode, scores."""
    (exp,) = path.glob("exp/asr_asr_*")
    files = [*path.glob("data/*/text"), *path.glob("dump/raw/*/wav.scp"), path / "exp/ngram/asr/4gram.arpa",
             *exp.glob("*/test/text"), *exp.glob("*/test/score_*/result.json")]
    model = torch.load(exp / "valid.loss.ave.pth")
    return {"files": {f.relative_to(path): f.read_bytes() for f in files}, "model": model}


def test_rerunning_every_stage_leaves_the_results_unchanged(recipe):
    path, env = recipe
    before = outputs_of_the_asr_run(path)
    proc = run(["./run.sh", "--targets", "asr", "--stop_stage", "13", *TINY, "--train_args", "--max_epoch 1"],
               path, env)
    after = outputs_of_the_asr_run(path)
    assert after["files"].keys() == before["files"].keys() and len(before["files"]) >= 9
    for name, content in before["files"].items():
        assert after["files"][name] == content, name
    assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())
    assert "none, all finished in an earlier run" in proc.stderr  # stage 12 decoded nothing again


def test_another_experiment_root_gets_its_own_report(recipe):
    # e.g. --expdir exp_topic0.7 (a variant of the corpus): stage 13 must not replace RESULTS.md
    # or its plots with a report of that root alone.
    path, env = recipe
    reports = sorted(path.glob("RESULTS*"))
    before = {p: p.read_bytes() for p in reports}
    shutil.copytree(path / "exp/asr_asr_train_asr", path / "exp_variant/asr_asr_train_asr")
    run(["./run.sh", "--targets", "asr", "--stage", "13", "--stop_stage", "13", *TINY, "--expdir", "exp_variant"],
        path, env)
    assert {p: p.read_bytes() for p in reports} == before
    report = (path / "RESULTS.exp_variant.md").read_text()
    assert "|asr_asr_train_asr|" in report and "asr_ner" not in report
    assert (path / "RESULTS.exp_variant.curves.png").is_file() and (path / "RESULTS.exp_variant.pareto.png").is_file()


def test_the_single_training_process_gets_every_core(recipe):
    # Other jobs keep path.sh's one thread. (Resuming stage 11 from its checkpoint is tested on a
    # killed run in test_recipe_kill_resume.py.)
    path, _ = recipe
    (exp,) = path.glob("exp/asr_asr_*")
    assert f"OMP_NUM_THREADS={len(os.sched_getaffinity(0))} " in (exp / "run.sh").read_text()


def test_packed_model_and_exp_dirs_serve_the_infer_command(recipe, capsys, monkeypatch, tmp_path):
    path, env = recipe
    (asr,) = path.glob("exp/asr_asr_*")
    (cls,) = path.glob("exp/cls_sentiment_*")
    # Stages 14-15 with the upload asked for, as a dry run (the default): pack, then the tree.
    stages = ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
              "--stage", "14", "--stop_stage", "15", "--skip_upload_hf", "false"]
    proc = run([*stages, "--train_config", "conf/train_asr.yaml", "--hf_repo", "test/mini_slue_asr"], path, env)
    assert "Dry run: the repository test/mini_slue_asr would hold" in proc.stdout
    assert (asr / "hf_upload" / asr.relative_to(path) / "images/loss.png").is_file()  # curves, as asr.sh packs
    run([*stages, "--task", "cls", "--target", "sentiment", "--inference_model", "valid.acc.ave.pth",
         "--train_config", "conf/train_sentiment.yaml", "--hf_repo", "test/mini_slue_sentiment"], path, env)
    # The card's command is the one that trained it, from what stage 11 recorded.
    card = (asr / "hf_upload/README.md").read_text()
    assert "./run.sh --targets asr --train_config conf/train_asr.yaml --train_args '--max_epoch 1'\n" in card
    (packed,) = asr.glob("*.zip")
    cache = tmp_path / "cache"
    cache_snapshot(asr / "hf_upload", cache, "test/mini_slue_asr")  # as after `hf download`
    # Run from elsewhere: an exp dir works from any directory, not only its recipe dir (the
    # audio list names its files by absolute path, as a user's own list would).
    elsewhere = path.parent.parent.parent
    monkeypatch.chdir(elsewhere)
    entries = [line.split(maxsplit=1) for line in (path / "dump/raw/test/wav.scp").read_text().splitlines()]
    utts = [utt for utt, _ in entries]
    wav = elsewhere / "wav.scp"
    wav.write_text("".join(f"{utt} {path / audio}\n" for utt, audio in entries))
    outputs = {}
    for model in (packed, asr, asr / "hf_upload", "test/mini_slue_asr", cls, cls / "hf_upload"):
        capsys.readouterr()
        # The model as a user in that directory names it: a relative path, or a hub id.
        name = model if isinstance(model, str) else os.path.relpath(model, elsewhere)
        assert infer.main(["--model", name, "--cachedir", str(cache), "--wav_scp", str(wav)]) == 0
        outputs[model] = capsys.readouterr().out.splitlines()[-len(utts):]
        assert [line.split()[0] for line in outputs[model]] == utts
    assert outputs[packed] == outputs[asr] == outputs[asr / "hf_upload"] == outputs["test/mini_slue_asr"]
    assert outputs[cls] == outputs[cls / "hf_upload"]
    labels = set((path / "data/token_list/sentiment_label/tokens.txt").read_text().split())
    assert {line.split()[1] for line in outputs[cls]} <= labels
    # ESPnet's own loader takes the packed model, the project's classes being registered (by
    # importing infer); its model zoo cache goes to the test's directory.
    monkeypatch.setattr(downloader, "ModelDownloader", functools.partial(downloader.ModelDownloader, cachedir=cache))
    from espnet2.bin.asr_inference import Speech2Text

    speech2text = Speech2Text.from_pretrained(model_tag=str(packed), ctc_weight=1.0, lm_weight=0.0, beam_size=1)
    assert isinstance(speech2text(infer.load_audio(str(path / entries[0][1])))[0][0], str)


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
