"""Tests for espnet2_ext.recipe.results (RESULTS.md generation)."""

import argparse
import json

from espnet2_ext.recipe.results import main, render

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


# Decode dirs of fast-inference strategies: a baseline and four strategies on "test" (one without
# rtf.json), a system without macs.json, and a dev decode.
def macs(gmacs, params=4_000_000, utts=20):
    return {"num_utts": utts, "audio_seconds": 50.0, "macs_per_audio_second": gmacs * 1e9,
            "num_params": params}


def rtf(seconds):
    return {"audio_seconds": 100.0, "decode_seconds": seconds, "rtf": seconds / 100.0,
            "latency_ms_per_utt": 10.0 * seconds}


def decode(root, name, err=None, gmacs=None, seconds=None, exit_layers=None, dset="test", **kw):
    d = root / name / "decode_asr_model_valid" / dset
    if err is not None:
        put(d / "score_wer" / "result.json", {**WER, "err": err})
    if gmacs is not None:
        put(d / "macs.json", macs(gmacs, **kw))
    if seconds is not None:
        put(d / "rtf.json", rtf(seconds))
    if exit_layers is not None:
        put(d / "exit_layer", "".join(f"u{i} {layer}\n" for i, layer in enumerate(exit_layers)))


def build_compute_tree(root):
    decode(root, "asr_base", 10.0, 2.0, 20.0)
    decode(root, "asr_base", 30.0, 9.0, 90.0, dset="dev")
    decode(root, "asr_sd2", 10.8, 1.0, 12.0)
    decode(root, "asr_cl3", 11.5, 0.7, 9.0, params=4_000_162)
    decode(root, "asr_ee", 10.4, 1.5, 16.0, exit_layers=[3, 4, 4, 3])
    decode(root, "asr_layers2", 12.0, 1.2, params=2_500_000)  # dominated by asr_sd2; no rtf.json
    decode(root, "asr_nomacs", 9.0, seconds=30.0)


def test_compute_section_and_gmacs_headline(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert "|experiment|dataset|WER|RTF|GMACs/s|" in lines
    assert "|asr_ee|decode_asr_model_valid/test|10.4|0.1600|1.500|" in lines
    assert "|asr_layers2|decode_asr_model_valid/test|12.0|-|1.200|" in lines
    start = lines.index("## asr_ee")
    compute = lines.index("### Compute", start)
    assert lines[compute:compute + 5] == [
        "### Compute",
        "",
        "|dataset|utts counted|audio counted (s)|GMACs/s|params|mean exit layer|",
        "|---|---|---|---|---|---|",
        "|decode_asr_model_valid/test|20|50.0|1.500|4,000,000|3.50|",
    ]
    assert "|decode_asr_model_valid/test|20|50.0|2.000|4,000,000|-|" in lines  # asr_base
    assert not any(line.startswith("## Fast inference") for line in lines)  # no --baseline


def test_seeds_table_mean_and_sample_spread(tmp_path):
    root = tmp_path / "exp"
    for name, err in [("asr_std", 10.0), ("asr_std_seed1", 12.0), ("asr_std_seed2", 14.0),
                      ("asr_ctx", 9.0), ("asr_ctx_seed1", 11.0), ("asr_other", 5.0)]:
        decode(root, name, err)
    decode(root, "asr_ctx_seed1", 20.0, dset="dev")  # only one run decoded dev: no dev row
    lines = render(root, tmp_path / "R.md", env=[]).splitlines()
    start = lines.index("## Seeds")
    assert lines[start + 4:start + 8] == [
        "|system|runs|dataset|WER|per run|",
        "|---|---|---|---|---|",
        "|asr_ctx|2|decode_asr_model_valid/test|10.0 ± 1.4|WER 9.0, 11.0|",  # stdev(9, 11) = sqrt(2)
        "|asr_std|3|decode_asr_model_valid/test|12.0 ± 2.0|WER 10.0, 12.0, 14.0|",
    ]
    assert lines[start + 8] == ""
    assert "## Seeds" not in render(root / "asr_other", tmp_path / "R.md", env=[])


def test_plugins_add_tables_values_and_sections(tmp_path):
    from espnet2_ext.recipe.plugins import Plugin
    from espnet2_ext.recipe.results import Column, Headline, Section

    decode(tmp_path / "exp", "asr_x", 10.0)
    put(tmp_path / "exp" / "asr_x" / "decode_asr_model_valid" / "test" / "score_bleu.json", {"bleu": 30.0})
    seen = {}

    def report(experiments, names, options, out_dir):
        seen["names"], seen["option"] = list(names), options.flag
        return ["## Mine", ""]

    plugin = Plugin(
        sections=(Section("BLEU", "score_bleu.json", (Column("BLEU", "bleu", ".1f"), Column("n", "n", "d")),
                          rank=15, headline=Headline("BLEU", "bleu", 15)),),
        decode_values=lambda decode_dir: {"n": 7},
        report=report,
    )
    lines = render(tmp_path / "exp", tmp_path / "R.md", env=[], plugins=[plugin],
                   options=argparse.Namespace(flag=True)).splitlines()
    assert "|experiment|dataset|BLEU|WER|" in lines  # headline rank 15: after CER (10), before WER (20)
    assert lines.index("## Summary") < lines.index("## Mine") < lines.index("## asr_x")
    assert seen == {"names": ["asr_x"], "option": True}
    tables = [line for line in lines if line.startswith("### ")]
    assert tables == ["### WER", "### BLEU"]  # rank 15: after WER (10), before CER (20)
    assert "|decode_asr_model_valid/test|30.0|7|" in lines
