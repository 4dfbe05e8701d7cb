"""End to end: the SCORE recipe (egs2/mini_slue/score1) on a tiny corpus, from data preparation to
an exported upstream, its query-by-example evaluation and RESULTS.md, and a re-run that resumes."""

import pytest
import torch
from helpers import copy_recipes, run

from espnet2_ext.upstream.checkpoints import read_checkpoint

TINY = ["--local_data_opts", "--train_recordings 2 --dev_recordings 1 --test_recordings 2",
        "--train_args", "--max_epoch 2 --num_iters_per_epoch 2 --batch_size 2"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    egs2, env = copy_recipes(tmp_path_factory.mktemp("score_e2e"))
    path = egs2 / "mini_slue" / "score1"
    run(["./run.sh", *TINY], path, env)
    return path, env


def test_only_the_top_two_layers_of_the_default_upstream_changed(tuned):
    path, _ = tuned
    _, start = read_checkpoint(path / "../ssl1/pretrained/upstream.pth")
    config, tuned_state = read_checkpoint(path / "exp/score_train_score/upstream.pth")
    changed = {k for k in start if not torch.equal(start[k], tuned_state[k])}
    assert changed and all(k.startswith(("encoder.transformer.layers.2.", "encoder.transformer.layers.3."))
                           for k in changed)
    assert config["encoder_layer_drop"] == 0.05  # the upstream's own, not the run's 0.0


def test_the_summary_counts_the_runs_updates(tuned):
    path, _ = tuned
    assert "2 epochs, 4 updates" in (path / "exp/score_train_score/summary.md").read_text()


def test_results_compare_the_starting_and_the_tuned_upstream_on_qbe(tuned):
    path, _ = tuned
    results = (path / "RESULTS.md").read_text()
    assert "## score_train_score" in results and "| layer | MAP start | MAP SCORE |" in results
    assert [line.split("|")[1].strip() for line in results.splitlines() if line.startswith("| ")
            and line.count("|") == 8 and line.split("|")[1].strip().isdigit()] == ["1", "2", "3", "4"]


def test_rerunning_training_resumes_the_finished_run(tuned):
    path, env = tuned
    before = (path / "exp/score_train_score/upstream.pth").stat().st_mtime_ns
    run(["./run.sh", "--stage", "6", "--stop_stage", "6", *TINY[2:]], path, env)
    log = (path / "exp/score_train_score/train.log").read_text()
    assert "The training was finished at 2 epochs" in log
    assert (path / "exp/score_train_score/upstream.pth").stat().st_mtime_ns == before
