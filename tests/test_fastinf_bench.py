"""The encoder benchmark runs end to end on the default (tiny) upstream and writes its table,
float32 and, for the plain upstream and the x3 downsamplers, bf16 and int8."""

import json

import pytest

from helpers import ROOT


def test_encoder_bench_writes_every_strategy(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.encoder import main

    out = tmp_path / "encoder.json"
    assert main(["--arches", "default", "--repeats", "2", "--warmup", "0", "--seconds", "0.5",
                 "--output", str(out)]) == 0
    rows = {(r["strategy"], r["factor"], r["precision"]): r for r in json.loads(out.read_text())}
    fp32 = {("none", 1), ("layers2", 1), ("layers3", 1)} | {(name, k) for name in ("sd", "cl", "av") for k in (2, 3, 4)}
    lower = {(name, k, p) for name, k in {("none", 1), ("sd", 3), ("cl", 3), ("av", 3)} for p in ("bf16", "int8")}
    assert set(rows) == {(name, k, "fp32") for name, k in fp32} | lower
    none = rows["none", 1, "fp32"]
    assert none["speedup"] == 1.0 and none["mac_reduction"] == 0.0 and len(none["times_s"]) == 2
    assert 0.45 < rows["cl", 2, "fp32"]["mac_reduction"] < 0.55 < rows["av", 3, "fp32"]["mac_reduction"] < 0.7
    assert rows["layers2", 1, "fp32"]["params"] < none["params"] == rows["sd", 3, "fp32"]["params"]
    for name, k, p in lower:  # the same computation on the same weights, slightly off
        row, exact = rows[name, k, p], rows[name, k, "fp32"]
        assert row["macs"] == exact["macs"] and 0 < row["rel_error"] < 0.05 and exact["rel_error"] == 0
        # gflops is rounded to 0.01, which is coarse for the tiny test model: compare in GFLOP/s
        assert row["peak_gflops"] > 0
        assert row["peak_ratio"] * row["peak_gflops"] == pytest.approx(row["gflops"], abs=6e-3)
    assert "layers2" in capsys.readouterr().out  # the printed table
