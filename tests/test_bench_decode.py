"""The decoding benchmark runs trained exp dirs round-robin in each precision and search and
writes its table (bench/decode.py)."""

import json

import numpy as np
import pytest
import soundfile
from context_tiny import build, save_exp_dir
from helpers import ROOT, write_lines

from espnet2_ext.recipe import ngram


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """A recipe dir with a tiny trained exp dir, 3 test utterances and a word LM with its decoding config."""
    monkeypatch.syspath_prepend(str(ROOT))
    exp = tmp_path / "exp" / "asr_tiny"
    save_exp_dir(exp, build(exp, "asr"))
    rng = np.random.RandomState(0)
    for k in range(3):
        soundfile.write(tmp_path / f"u{k}.wav", 0.1 * rng.randn(4000 + 800 * k).astype("float32"), 16000)
    (tmp_path / "dump" / "test").mkdir(parents=True)
    write_lines(tmp_path / "dump" / "test" / "wav.scp", [f"u{k} u{k}.wav" for k in range(3)])
    ngram.write_arpa(ngram.estimate([["a", "b"], ["b"], ["a", "a", "b"]], 2), tmp_path / "2gram.arpa")
    write_lines(tmp_path / "decode_lm.yaml", ["ctc_lm: 2gram.arpa", "ctc_lm_alpha: 0.5", "ctc_lm_beam: 4"])
    return tmp_path


def test_every_variant_is_timed_against_the_first_system(recipe, tmp_path_factory, monkeypatch, capsys):
    from bench.decode import main

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)  # --output is relative to here, the rest to --recipe
    assert main(["--recipe", str(recipe), "--system", "base", "exp/asr_tiny", "fp32,int8",
                 "--system", "other", "exp/asr_tiny", "bf16", "--model_file", "model.pth", "--data", "dump/test",
                 "--num_utts", "2", "--lm_config", "decode_lm.yaml", "--repeats", "2", "--warmup", "0",
                 "--output", "out/decode.json"]) == 0
    table = json.loads((elsewhere / "out" / "decode.json").read_text())
    assert [(r["system"], r["precision"], r["search"]) for r in table] == [
        (s, p, search) for s, p in [("base", "fp32"), ("base", "int8"), ("other", "bf16")]
        for search in ("best_path", "lm")]
    assert all(len(r["times_s"]) == 2 and r["num_utts"] == 2 and r["threads"] == 1 for r in table)
    assert table[0]["speedup"] == table[1]["speedup"] == 1.0  # the reference of each search
    assert table[0]["audio_s"] == pytest.approx((4000 + 4800) / 16000, abs=0.01)
    assert table[2]["speedup"] == pytest.approx(table[0]["time_s"] / table[2]["time_s"], rel=0.01)
    assert "| other | bf16 | lm |" in capsys.readouterr().out


def test_best_path_only_without_an_lm_and_bad_options_are_named(recipe):
    from bench.decode import main

    out = recipe / "decode.json"
    assert main(["--recipe", str(recipe), "--system", "base", "exp/asr_tiny", "fp32", "--model_file", "model.pth",
                 "--data", "dump/test", "--repeats", "1", "--warmup", "0", "--output", str(out)]) == 0
    assert [r["search"] for r in json.loads(out.read_text())] == ["best_path"]
    with pytest.raises(ValueError, match="--system base: unknown precision fp16"):
        main(["--recipe", str(recipe), "--system", "base", "exp/asr_tiny", "fp16", "--output", str(out)])
    write_lines(recipe / "no_lm.yaml", ["ctc_weight: 1.0"])
    with pytest.raises(ValueError, match="no_lm.yaml: no ctc_lm in this decoding config"):
        main(["--recipe", str(recipe), "--system", "base", "exp/asr_tiny", "fp32", "--lm_config", "no_lm.yaml",
              "--output", str(out)])
