"""The encoder benchmark runs end to end on the default (tiny) upstream and writes its table."""

import json

from helpers import ROOT


def test_encoder_bench_writes_every_strategy(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    from bench.encoder import main

    out = tmp_path / "encoder.json"
    assert main(["--arches", "default", "--repeats", "2", "--warmup", "0", "--seconds", "0.5",
                 "--output", str(out)]) == 0
    rows = {(r["strategy"], r["factor"]): r for r in json.loads(out.read_text())}
    assert set(rows) == {("none", 1), ("layers2", 1), ("layers3", 1)} | {
        (name, k) for name in ("sd", "cl", "av") for k in (2, 3, 4)}
    none = rows["none", 1]
    assert none["speedup"] == 1.0 and none["mac_reduction"] == 0.0 and len(none["times_s"]) == 2
    assert 0.45 < rows["cl", 2]["mac_reduction"] < 0.55 < rows["av", 3]["mac_reduction"] < 0.7
    assert rows["layers2", 1]["params"] < none["params"] == rows["sd", 3]["params"]
    assert "layers2" in capsys.readouterr().out  # the printed table
