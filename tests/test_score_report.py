"""SCORE's RESULTS.md: each run's cost and validation loss, QbE of the starting and tuned upstream."""

import datetime
import json

import torch

from espnet2_ext.score import report


def fake_run(run, qbe=True):
    run.mkdir(parents=True)
    stats = {e: {"train": {"total_count": 50 * e, "time": datetime.timedelta(seconds=180)},
                 "valid": {"loss": 0.2 / e}} for e in (1, 2)}
    torch.save({"reporter": {"stats": stats, "epoch": 2}}, run / "checkpoint.pth")
    seed = " --seed 1" if run.name.endswith("_seed1") else ""
    (run / "run.sh").write_text(f"python3 -m espnet2_ext.bin.score_train --output_dir x --config conf/tuning/a.yaml{seed}\n")
    if qbe:
        (run / "eval").mkdir()
        for view, value in (("start", 0.4), ("tuned", 0.5)):
            ap = {"q1": value + 0.01, "q2": value - 0.01}  # tuned better on both queries
            layers = {str(i): {"map": value + i / 100, "mtwv": value / 10, "atwv": -1.0, "ap": ap} for i in (1, 2)}
            (run / "eval" / f"qbe_{view}.json").write_text(json.dumps(
                {"layers": layers, "num_queries": 30, "num_docs": 94, "beta": 999.9, "method": "cosine_exp"}))


def test_each_run_gets_its_cost_curve_command_and_qbe_rows(tmp_path):
    fake_run(tmp_path / "score_a")
    fake_run(tmp_path / "score_b", qbe=False)
    assert report.main([str(tmp_path), "--out", str(tmp_path / "RESULTS.md")]) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.index("## score_a") < text.index("## score_b")
    assert "2 epochs, 100 updates, 0.1 h of training" in text
    assert "| 2 | 0.1000 |" in text
    assert "`./run.sh --train_config conf/tuning/a.yaml`" in text
    # Every resample of two queries, each 0.1 better, gives +0.1: the interval is one point.
    assert "| 1 | 0.4100 | 0.5100 | +0.1000 [+0.1000, +0.1000] | 1.000 | 0.0400 | 0.0500 |" in text
    assert "30 queries, 94 documents, beta 999.9" in text
    assert text.count("| layer | MAP start |") == 1  # score_b has no evaluation


def test_seeds_of_one_run_are_summarised_against_the_same_start(tmp_path):
    fake_run(tmp_path / "score_a")
    fake_run(tmp_path / "score_a_seed1")
    assert report.main([str(tmp_path), "--out", str(tmp_path / "RESULTS.md")]) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert "## Seeds: score_a (2 SCORE runs, QbE MAP)" in text
    assert '`./run.sh --train_config conf/tuning/a.yaml --train_args "--seed 1" --tag a_seed1`' in text
    # Both seeds 0.51 at layer 1 (sd 0), the seed-averaged AP 0.1 above the start on both queries.
    assert "| 1 | 0.4100 | 0.5100, 0.5100 | 0.5100 (0.0000) | +0.1000 [+0.1000, +0.1000] | 1.000 |" in text


def test_no_run_is_one_clear_line(tmp_path, capsys):
    assert report.main([str(tmp_path), "--out", str(tmp_path / "R.md")]) == 1
    assert capsys.readouterr().err.strip() == f"ERROR: {tmp_path}: no score run (score_*/checkpoint.pth)"
