"""The context benchmark runs end to end (quick mode, default upstream) and writes its table."""

import json

from helpers import ROOT


def test_context_bench_times_every_system(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.context import CONFIGS, main

    out = tmp_path / "context.json"
    assert main(["--arches", "default", "--quick", "--output", str(out)]) == 0
    rows = {r["system"]: r for r in json.loads(out.read_text())}
    assert set(rows) == set(CONFIGS)
    assert rows["standard"]["infer_ratio"] == rows["standard"]["train_ratio"] == 1.0
    for row in rows.values():
        assert row["arch"] == "default" and row["infer_time_s"] > 0 and row["train_step_s"] > 0
    assert rows["ctx_aware_b"]["params"] > rows["standard"]["params"] == rows["ctx_inject"]["params"]
    assert "ctx_inject" in capsys.readouterr().out  # the printed table
