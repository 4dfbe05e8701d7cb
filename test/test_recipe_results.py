"""Tests for espnet2_ext.recipe.results (RESULTS.md generation)."""

import json

from espnet2_ext.recipe.results import (
    ComputeOptions, System, main, pareto_front, point_labels, render, short_labels,
)

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


# Fast inference: a baseline and four strategies on "test" (one without rtf.json), a system
# without macs.json (not in the table), and a dev decode (not the compared set).
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


FAST_TABLE = [
    "|strategy|WER|ΔWER|GMACs/s|MACs reduction %|CPU decode time (s)|time reduction %|RTF|params (M)|mean exit layer|",
    "|---|---|---|---|---|---|---|---|---|---|",
    "|asr_base (baseline)|10.00|+0.00|2.000|0.0|20.0|0.0|0.2000|4.00|-|",
    "|asr_cl3|11.50|+1.50|0.700|65.0|9.0|55.0|0.0900|4.00|-|",
    "|asr_ee|10.40|+0.40|1.500|25.0|16.0|20.0|0.1600|4.00|3.50|",
    "|asr_layers2|12.00|+2.00|1.200|40.0|-|-|-|2.50|-|",
    "|asr_sd2|10.80|+0.80|1.000|50.0|12.0|40.0|0.1200|4.00|-|",
]


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


def test_fast_inference_table_against_the_baseline(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    png = tmp_path / "plots" / "pareto.png"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--compute_set", "test", "--pareto", str(png)]) == 0
    lines = out.read_text().splitlines()
    start = lines.index("## Fast inference: test")
    assert lines.index("## Summary") < start < lines.index("## asr_base")
    table = lines.index(FAST_TABLE[0])
    assert lines[table:table + len(FAST_TABLE)] == FAST_TABLE
    assert lines[table + len(FAST_TABLE) + 1] == (
        "2 of the 4 other strategies stay within +1.0 WER (absolute) of the baseline asr_base "
        "(WER 10.00), cheapest first: asr_sd2 (+0.80 WER, MACs -50.0 %), "
        "asr_ee (+0.40 WER, MACs -25.0 %).")
    assert ("Pareto frontier (WER against GMACs/s: no other system has both a lower WER and fewer "
            "MACs): asr_cl3, asr_sd2, asr_ee, asr_base.") in lines
    assert "![WER against GMACs/s](plots/pareto.png)" in lines
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any("counted on the first 20 utterances" in line for line in lines)


def test_threshold_option_and_no_strategy_within(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--threshold", "0.25"]) == 0
    text = out.read_text()
    assert ("None of the 4 other strategies stays within +0.25 WER (absolute) of the baseline "
            "asr_base (WER 10.00).") in text
    assert "![" not in text  # no --pareto, no plot


def test_compute_systems_glob_keeps_the_baseline_and_the_matching_strategies(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--compute_systems", "asr_[cs][ld]*"]) == 0
    lines = out.read_text().splitlines()
    table = lines.index(FAST_TABLE[0])
    assert lines[table:table + 6] == FAST_TABLE[:4] + FAST_TABLE[-1:] + [""]  # base, cl3, sd2
    assert "1 of the 2 other strategies stays within" in lines[table + 6]


def test_baseline_seed_spread_follows_the_within_sentence(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"])
    assert "seed runs" not in out.read_text()  # one run of the baseline: no spread to state
    decode(tmp_path / "exp", "asr_base_seed1", 11.0)
    decode(tmp_path / "exp", "asr_base_seed2", 12.0)
    decode(tmp_path / "exp", "asr_base_seed2", 50.0, dset="dev")  # not the compared set
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"])
    lines = out.read_text().splitlines()
    within = next(i for i, line in enumerate(lines) if "other strategies stay within" in line)
    assert lines[within + 2] == (
        "The baseline's WER over its 3 seed runs is 11.00 ± 1.00 (range 10.00-12.00): a difference "
        "smaller than that spread is not evidence that a strategy is better or worse.")


def test_two_compared_error_rates_get_columns_and_sentences_each(tmp_path):
    build_compute_tree(tmp_path / "exp")
    for name, cer in [("asr_base", 4.0), ("asr_sd2", 4.5), ("asr_cl3", 6.0), ("asr_ee", 4.2)]:
        put(tmp_path / "exp" / name / "decode_asr_model_valid" / "test" / "score_cer" / "result.json",
            {**WER, "err": cer})  # asr_layers2 has no CER
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--compute_metric", "wer", "cer"]) == 0
    lines = out.read_text().splitlines()
    table = lines.index("|strategy|WER|ΔWER|CER|ΔCER|GMACs/s|MACs reduction %|CPU decode time (s)|"
                        "time reduction %|RTF|params (M)|mean exit layer|")
    assert lines[table + 2] == "|asr_base (baseline)|10.00|+0.00|4.00|+0.00|2.000|0.0|20.0|0.0|0.2000|4.00|-|"
    assert lines[table + 5] == "|asr_layers2|12.00|+2.00|-|-|1.200|40.0|-|-|-|2.50|-|"
    assert lines[table + 8].startswith("2 of the 4 other strategies stay within +1.0 WER")
    assert lines[table + 10] == (
        "2 of the 3 other strategies stay within +1.0 CER (absolute) of the baseline asr_base "
        "(CER 4.00), cheapest first: asr_sd2 (+0.50 CER, MACs -50.0 %), asr_ee (+0.20 CER, MACs -25.0 %).")
    assert any(line.startswith("Pareto frontier (WER against GMACs/s") for line in lines)  # the first


def test_without_the_baseline_results_are_unchanged(tmp_path, caplog):
    build_compute_tree(tmp_path / "exp")
    plain = render(tmp_path / "exp", tmp_path / "R.md", env=[])
    for baseline in ("asr_missing", "asr_nomacs"):  # absent; no macs.json
        compute = ComputeOptions(baseline, "test", pareto=tmp_path / f"{baseline}.png")
        assert render(tmp_path / "exp", tmp_path / "R.md", env=[], compute=compute) == plain
        assert not (tmp_path / f"{baseline}.png").exists()
    assert "no fast-inference table: experiment 'asr_nomacs'" in caplog.text
    other_set = ComputeOptions("asr_base", "dev")  # only the baseline decoded dev
    assert "|asr_base (baseline)|30.00|+0.00|9.000|0.0|90.0|0.0|0.9000|4.00|-|" in \
        render(tmp_path / "exp", tmp_path / "R.md", env=[], compute=other_set)


def test_short_plot_labels_and_pareto_front():
    assert short_labels(["asr_asr_train_asr_fastinf_sd2_ctc", "asr_asr_train_asr_ssl_tiny_pretrained_ctc"]) \
        == ["fastinf_sd2", "ssl_tiny_pretrained"]
    assert short_labels(["a_x", "a_x_y"]) == ["x", "x_y"]
    systems = [System(name, (err,), gmacs, None, None, 1, None, 1)
               for name, err, gmacs in [("a", 5.0, 1.0), ("b", 6.0, 1.0), ("c", 4.0, 2.0), ("d", 4.5, 3.0)]]
    assert [s.label for s in pareto_front(systems)] == ["a", "c"]


def test_point_labels_join_points_that_would_overlap():
    systems = [System(name, (err,), gmacs, None, None, 1, None, 1)
               for name, err, gmacs in [("sd3", 63.44, 0.121), ("cl3", 63.45, 0.122), ("cl4", 65.0, 0.090),
                                        ("default", 54.8, 0.382)]]
    assert point_labels(systems, [s.label for s in systems]) == [
        ((0.090, 65.0), "cl4"), ((0.121, 63.44), "sd3 / cl3"), ((0.382, 54.8), "default")]
    assert point_labels(systems[:1], ["sd3"]) == [((0.121, 63.44), "sd3")]  # one point: no span


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
