"""Tests for espnet2_ext.recipe.results (RESULTS.md generation)."""

import json

from espnet2_ext.recipe.results import main

WER = {"num_snt": 2, "num_wrd": 6, "corr": 50.0, "sub": 16.666, "del": 33.333, "ins": 16.666,
       "err": 66.666, "snt_err": 100.0}


def put(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if isinstance(data, dict) else data, encoding="utf-8")


def build_tree(root):
    """Two experiments (asr_b listed before asr_a on purpose) and a dir without results."""
    tag = root / "asr_b" / "decode_asr_model_valid"
    put(tag / "test" / "score_wer" / "result.json", WER)
    put(tag / "dev" / "score_wer" / "result.json", {**WER, "num_snt": 3, "err": 5.26})
    put(tag / "test" / "score_cer" / "result.json", {**WER, "num_wrd": 30, "err": 1.0})
    put(tag / "test" / "rtf.json", {"audio_seconds": 12.0, "decode_seconds": 2.0,
                                    "rtf": 1 / 6, "latency_ms_per_utt": 500.0})
    put(root / "asr_b" / "config.yaml", "encoder: x\n")
    put(root / "asr_b" / "model_summary.json", {"num_params": 94395434})
    devel = root / "asr_a" / "decode_x" / "devel"
    put(devel / "score_ner" / "result.json", {"f1": 400 / 9, "label_f1": 200 / 3,
                                               "precision": 50.0, "recall": 40.0})
    put(devel / "score_sentiment" / "result.json", {"macro_f1": 190 / 3, "macro_recall": 1100 / 18,
                                                     "accuracy": 50.0})
    put(root / "asr_stats_raw" / "train" / "feats_stats.json", {"x": 1})


def test_results_tables_from_fake_tree(tmp_path):
    exp = tmp_path / "exp"
    build_tree(exp)
    preamble = tmp_path / "howto.md"
    preamble.write_text("## How to reproduce\n\n    ./run.sh --stage 1\n", encoding="utf-8")
    out = tmp_path / "RESULTS.md"
    assert main([str(exp), "--out", str(out), "--title", "My recipe",
                 "--preamble", str(preamble)]) == 0
    lines = out.read_text().splitlines()
    assert lines[1] == "# My recipe"
    # outside a git checkout the environment block still renders
    assert "- Git hash: `unknown (not a git checkout)`" in lines
    start = lines.index("## asr_a")
    summary = lines.index("## Summary")
    assert lines.index("## How to reproduce") < summary < start < lines.index("## asr_b")
    assert lines[summary:start] == [
        "## Summary",
        "",
        "|experiment|dataset|CER|WER|NER F1|macro-F1|RTF|",
        "|---|---|---|---|---|---|---|",
        "|asr_a|decode_x/devel|-|-|44.4|63.3|-|",
        "|asr_b|decode_asr_model_valid/dev|-|5.3|-|-|-|",
        "|asr_b|decode_asr_model_valid/test|1.0|66.7|-|-|0.1667|",
        "",
    ]
    assert "## asr_stats_raw" not in lines
    assert lines[start:] == [
        "## asr_a",
        "",
        "### NER",
        "",
        "|dataset|F1|label-F1|precision|recall|",
        "|---|---|---|---|---|",
        "|decode_x/devel|44.4|66.7|50.0|40.0|",
        "",
        "### Sentiment",
        "",
        "|dataset|macro-F1|macro-recall|accuracy|",
        "|---|---|---|---|",
        "|decode_x/devel|63.3|61.1|50.0|",
        "",
        "## asr_b",
        "",
        "- config: [asr_b/config.yaml](exp/asr_b/config.yaml)",
        "- number of parameters: 94,395,434",
        "",
        "### WER",
        "",
        "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|",
        "|---|---|---|---|---|---|---|---|---|",
        "|decode_asr_model_valid/dev|3|6|50.0|16.7|33.3|16.7|5.3|100.0|",
        "|decode_asr_model_valid/test|2|6|50.0|16.7|33.3|16.7|66.7|100.0|",
        "",
        "### CER",
        "",
        "|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|",
        "|---|---|---|---|---|---|---|---|---|",
        "|decode_asr_model_valid/test|2|30|50.0|16.7|33.3|16.7|1.0|100.0|",
        "",
        "### RTF",
        "",
        "|dataset|audio (s)|decode time (s)|RTF|latency (ms/utt)|",
        "|---|---|---|---|---|",
        "|decode_asr_model_valid/test|12.0|2.0|0.1667|500.0|",
    ]


def test_single_experiment_dir_defaults_to_its_results_md(tmp_path):
    build_tree(tmp_path)
    exp = tmp_path / "asr_b"
    assert main([str(exp)]) == 0
    lines = (exp / "RESULTS.md").read_text().splitlines()
    assert "## asr_b" in lines
    assert "- config: [asr_b/config.yaml](config.yaml)" in lines
    assert "|decode_asr_model_valid/test|12.0|2.0|0.1667|500.0|" in lines


def test_bad_json_value_names_the_file(tmp_path, capsys):
    put(tmp_path / "e" / "tag" / "test" / "score_wer" / "result.json", {**WER, "num_snt": 2.5})
    assert main([str(tmp_path)]) == 1
    assert "score_wer/result.json: 'num_snt' must be an integer" in capsys.readouterr().err


def test_no_results_is_an_error(tmp_path, capsys):
    (tmp_path / "e").mkdir()
    assert main([str(tmp_path)]) == 1
    assert "no decode dir" in capsys.readouterr().err
