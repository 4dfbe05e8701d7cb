"""End to end: the rewiring recipe (egs2/mini_slue/rewire1) on a tiny corpus with the mixed
positive (so the neutral TTS stage runs), from data preparation to an exported upstream, its
isotropy, query-by-example search and RESULTS.md. (A re-run of training resumes: the template's stage 6 is SCORE's too,
tested in test_recipe_score_e2e.py.)"""

import json

import pytest
import torch
from helpers import copy_recipes, run

from espnet2_ext.upstream.checkpoints import read_checkpoint

TRAIN_ARGS = "--model_conf positive=mixed --max_epoch 2 --num_iters_per_epoch 2 --batch_size 2"
TINY = ["--local_data_opts", "--train_recordings 2 --dev_recordings 1 --test_recordings 2",
        "--train_args", TRAIN_ARGS, "--tag", "train_rewire_mixed"]
EXP = "exp/rewire_train_rewire_mixed"


@pytest.fixture(scope="module")
def rewired(tmp_path_factory):
    egs2, env = copy_recipes(tmp_path_factory.mktemp("rewire_e2e"))
    path = egs2 / "mini_slue" / "rewire1"
    run(["./run.sh", *TINY], path, env)
    return path, env


def test_neutral_positives_were_synthesised_for_every_training_utterance(rewired):
    path, _ = rewired
    for dset in ("train", "dev"):
        wavs = [line.split()[0] for line in (path / f"dump/raw/{dset}/wav.scp").read_text().splitlines()]
        neutral = [line.split()[0] for line in (path / f"dump/raw/{dset}/neutral.scp").read_text().splitlines()]
        assert neutral == wavs
    assert "neutral_speech" in (path / EXP / "run.sh").read_text()


def test_the_whole_upstream_changed_and_kept_its_own_layer_drop(rewired):
    path, _ = rewired
    _, start = read_checkpoint(path / "../ssl1/pretrained/upstream.pth")
    config, tuned = read_checkpoint(path / EXP / "upstream.pth")
    changed = {k for k in start if not torch.equal(start[k], tuned[k])}
    assert any(k.startswith("feature_extractor.") for k in changed)
    assert any(k.startswith("encoder.transformer.layers.0.") for k in changed)
    assert config["encoder_layer_drop"] == 0.05


def test_results_show_the_command_and_the_isotropy_before_and_after(rewired):
    path, _ = rewired
    results = (path / "RESULTS.md").read_text()
    assert "## rewire_train_rewire_mixed" in results
    assert f'`./run.sh --train_config conf/train_rewire.yaml --train_args "{TRAIN_ARGS}" --tag train_rewire_mixed`' in results
    assert "| vectors | I(W) start | I(W) rewired |" in results
    start = json.loads((path / EXP / "eval/isotropy_start.json").read_text())
    assert start["num_utterances"] > 2 and f"{start['pooled']['isotropy']:.4f}" in results
    assert "| layer | MAP start | MAP rewired | MAP rewired - start [95 % CI] | P(rewired better) |" in results
    qbe = json.loads((path / EXP / "eval/qbe_tuned.json").read_text())
    assert f"{qbe['layers']['4']['map']:.4f}" in results

