"""Fast inference's RESULTS.md section (espnet2_ext.fastinf.report, through the results program)."""

import argparse

from test_recipe_results import WER, build_compute_tree, decode, macs, put

from espnet2_ext.fastinf.plugin import PLUGIN
from espnet2_ext.fastinf.report import (
    ComputeOptions, System, baseline_seed_errors, baseline_seed_systems, compute_systems, pareto_front, plot_points,
    point_labels, short_labels, within,
)
from espnet2_ext.recipe.results import Tables, find_experiments, main, render

FAST_TABLE = [
    "|strategy|WER|ΔWER|GMACs/s|MACs reduction %|CPU decode time (s)|time reduction %|RTF|params (M)|mean exit layer|",
    "|---|---|---|---|---|---|---|---|---|---|",
    "|asr_base (baseline)|10.00|+0.00|2.000|0.0|20.0|0.0|0.2000|4.00|-|",
    "|asr_cl3|11.50|+1.50|0.700|65.0|9.0|55.0|0.0900|4.00|-|",
    "|asr_ee|10.40|+0.40|1.500|25.0|16.0|20.0|0.1600|4.00|3.50|",
    "|asr_layers2|12.00|+2.00|1.200|40.0|-|-|-|2.50|-|",
    "|asr_sd2|10.80|+0.80|1.000|50.0|12.0|40.0|0.1200|4.00|-|",
]


def systems(root, options):
    experiments = find_experiments(root, Tables((PLUGIN,)))
    names = [e.name for e in experiments]
    found = compute_systems(experiments, names, options)
    baseline = next(s for name, s in found if name == options.baseline)
    return experiments, names, baseline, [s for name, s in found if name != options.baseline]


def options(baseline="asr_base", decode_set="test", **kw):
    return argparse.Namespace(baseline=baseline, compute_set=decode_set, compute_metric=kw.get("metrics", ["wer"]),
                              threshold=kw.get("threshold", 1.0), pareto=kw.get("pareto"),
                              compute_systems=kw.get("systems", "*"), exit_curve=kw.get("exit_curve"),
                              baseline_tag=kw.get("baseline_tag"))


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
    assert "![WER against GMACs/s](plots/pareto.png)" in lines
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The strategies within +1.0 WER, cheapest first, and the Pareto frontier.
    _, _, baseline, others = systems(tmp_path / "exp", ComputeOptions("asr_base"))
    kept = within(baseline, others, ComputeOptions("asr_base"))
    assert [(s.label, round(diff, 2)) for s, diff in kept] == [("asr_sd2", 0.8), ("asr_ee", 0.4)]
    assert [s.label for s in pareto_front([baseline] + others)] == ["asr_cl3", "asr_sd2", "asr_ee", "asr_base"]
    sentence = lines[table + len(FAST_TABLE) + 1]
    assert all(label in sentence for label in ("asr_sd2", "asr_ee")) and "asr_cl3" not in sentence


def test_threshold_option_and_no_strategy_within(tmp_path):
    build_compute_tree(tmp_path / "exp")
    _, _, baseline, others = systems(tmp_path / "exp", ComputeOptions("asr_base"))
    assert within(baseline, others, ComputeOptions("asr_base", threshold=0.25)) == []
    assert [s.label for s, _ in within(baseline, others, ComputeOptions("asr_base", threshold=2.0))] == [
        "asr_cl3", "asr_sd2", "asr_layers2", "asr_ee"]
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"]) == 0
    assert "![" not in out.read_text()  # no --pareto, no plot


def test_compute_systems_glob_keeps_the_baseline_and_the_matching_strategies(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--compute_systems", "asr_[cs][ld]*"]) == 0
    lines = out.read_text().splitlines()
    table = lines.index(FAST_TABLE[0])
    assert lines[table:table + 6] == FAST_TABLE[:4] + FAST_TABLE[-1:] + [""]  # base, cl3, sd2


def test_baseline_seed_errors_are_the_compared_sets_only(tmp_path):
    build_compute_tree(tmp_path / "exp")
    out = tmp_path / "RESULTS.md"
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"])
    plain = out.read_text()
    decode(tmp_path / "exp", "asr_base_seed1", 11.0)
    decode(tmp_path / "exp", "asr_base_seed2", 12.0)
    decode(tmp_path / "exp", "asr_base_seed2", 50.0, dset="dev")  # not the compared set
    experiments, names, _, _ = systems(tmp_path / "exp", ComputeOptions("asr_base"))
    tag = "decode_asr_model_valid"
    assert sorted(baseline_seed_errors(experiments, names, ComputeOptions("asr_base"), "wer", tag)) == [10.0, 11.0, 12.0]
    put(tmp_path / "exp" / "asr_base_seed1" / "decode_int8" / "test" / "score_wer" / "result.json", {**WER, "err": 30.0})
    assert sorted(baseline_seed_errors(experiments, names, ComputeOptions("asr_base"), "wer", tag)) == [10.0, 11.0, 12.0]
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"])
    added = set(out.read_text().splitlines()) - set(plain.splitlines())
    assert any("11.00 ± 1.00" in line and "10.00-12.00" in line for line in added)  # mean, stdev, range


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
    two = ComputeOptions("asr_base", metrics=("wer", "cer"))
    _, _, baseline, others = systems(tmp_path / "exp", two)
    assert [(s.label, round(d, 2)) for s, d in within(baseline, others, two, index=1)] == [
        ("asr_sd2", 0.5), ("asr_ee", 0.2)]
    assert "CER" in lines[table + 10] and "WER" in lines[table + 8]  # one sentence per error rate


def test_without_the_baseline_results_are_unchanged(tmp_path, caplog):
    build_compute_tree(tmp_path / "exp")
    plain = render(tmp_path / "exp", tmp_path / "R.md", env=[], plugins=[PLUGIN])
    assert render(tmp_path / "exp", tmp_path / "R.md", env=[], plugins=[PLUGIN], options=options(None)) == plain
    for baseline in ("asr_missing", "asr_nomacs"):  # absent; no macs.json
        with_baseline = options(baseline, pareto=tmp_path / f"{baseline}.png")
        assert render(tmp_path / "exp", tmp_path / "R.md", env=[], plugins=[PLUGIN], options=with_baseline) == plain
        assert not (tmp_path / f"{baseline}.png").exists()
    assert "no fast-inference table: experiment 'asr_nomacs'" in caplog.text
    other_set = options("asr_base", "dev")  # only the baseline decoded dev
    assert "|asr_base (baseline)|30.00|+0.00|9.000|0.0|90.0|0.0|0.9000|4.00|-|" in \
        render(tmp_path / "exp", tmp_path / "R.md", env=[], plugins=[PLUGIN], options=other_set)


def test_short_plot_labels_and_pareto_front():
    assert short_labels(["asr_asr_train_asr_fastinf_sd2_ctc", "asr_asr_train_asr_ssl_tiny_pretrained_ctc"]) \
        == ["fastinf_sd2", "ssl_tiny_pretrained"]
    assert short_labels(["a_x", "a_x_y"]) == ["x", "x_y"]
    found = [System(name, (err,), gmacs, None, None, 1, None, 1)
             for name, err, gmacs in [("a", 5.0, 1.0), ("b", 6.0, 1.0), ("c", 4.0, 2.0), ("d", 4.5, 3.0)]]
    assert [s.label for s in pareto_front(found)] == ["a", "c"]


def test_plot_points_average_seed_runs_of_the_baseline_decoding():
    lm, greedy = "decode_lm", "decode_greedy"
    found = [(name, System(name, (err,), gmacs, None, None, 1, None, 1, tag=tag))
             for name, err, gmacs, tag in [("asr_sd3", 10.0, 1.0, lm), ("asr_sd3_seed1", 14.0, 1.2, lm),
                                           ("asr_sd3_seed2", 99.0, 1.0, greedy), ("asr_ee", 5.0, 2.0, lm),
                                           ("asr_ee", None, 2.0, lm)]]
    points = plot_points(found, lm)
    assert sorted(points) == ["asr_ee", "asr_sd3"]  # another decoding is no point; None errors none
    assert (points["asr_sd3"].label, points["asr_sd3"].err, points["asr_sd3"].gmacs) == ("asr_sd3 (2 seeds)", 12.0, 1.1)
    assert (points["asr_ee"].label, points["asr_ee"].err) == ("asr_ee", 5.0)


def test_point_labels_join_points_that_would_overlap():
    found = [System(name, (err,), gmacs, None, None, 1, None, 1)
             for name, err, gmacs in [("sd3", 63.44, 0.121), ("cl3", 63.45, 0.122), ("cl4", 65.0, 0.090),
                                      ("default", 54.8, 0.382)]]
    assert point_labels(found, [s.label for s in found]) == [
        ((0.090, 65.0), "cl4"), ((0.121, 63.44), "sd3 / cl3"), ((0.382, 54.8), "default")]
    assert point_labels(found[:1], ["sd3"]) == [((0.121, 63.44), "sd3")]  # one point: no span


def test_an_early_exit_threshold_sweep_gets_its_curve(tmp_path):
    build_compute_tree(tmp_path / "exp")
    # asr_ee decoded by three more rules (its stage-12 decode dir has no exit_rule: not in the curve)
    for tag, rule, layers, wer in [("ent0.5", "entropy 0.5", [3, 3, 4, 4], 10.9), ("none", "none", [4] * 4, 10.2),
                                   ("ent0.1", "entropy 0.1", [4, 4, 4, 3], 10.3)]:
        d = tmp_path / "exp" / "asr_ee" / f"decode_{tag}" / "test"
        put(d / "score_wer" / "result.json", {**WER, "err": wer})
        put(d / "macs.json", macs(1.5))
        put(d / "exit_layer", "".join(f"u{i} {layer}\n" for i, layer in enumerate(layers)))
        put(d / "exit_rule", "".join(f"u{i} {rule}\n" for i in range(len(layers))))
    out, png = tmp_path / "RESULTS.md", tmp_path / "exit.png"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base", "--exit_curve", str(png)]) == 0
    lines = out.read_text().splitlines()
    start = lines.index("### Early exit: the threshold curve, test")
    table = lines.index("`asr_ee`:", start) + 2
    assert lines[table:table + 5] == [
        "|exit rule|mean exit layer|WER|CPU decode time (s)|", "|---|---|---|---|",
        "|entropy 0.1|3.75|10.30|-|", "|entropy 0.5|3.50|10.90|-|", "|none|4.00|10.20|-|"]
    assert "![WER against the mean exit layer](exit.png)" in lines
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_exit_rule_per_experiment_is_no_curve(tmp_path):
    build_compute_tree(tmp_path / "exp")  # asr_ee: one decode dir, without exit_rule
    out = tmp_path / "RESULTS.md"
    assert main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base",
                 "--exit_curve", str(tmp_path / "exit.png")]) == 0
    assert "threshold curve" not in out.read_text() and not (tmp_path / "exit.png").exists()


def test_the_baseline_decoded_two_ways_is_the_tag_asked_for(tmp_path):
    build_compute_tree(tmp_path / "exp")
    lm = tmp_path / "exp" / "asr_base" / "decode_lm" / "test"
    put(lm / "score_wer" / "result.json", {**WER, "err": 8.0})
    put(lm / "macs.json", macs(2.0))
    out = tmp_path / "RESULTS.md"
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base"])
    assert "|asr_base (decode_asr_model_valid) (baseline)|10.00|+0.00|" in out.read_text()  # first sorted
    main([str(tmp_path / "exp"), "--out", str(out), "--baseline", "asr_base", "--baseline_tag", "decode_lm"])
    text = out.read_text()
    assert "|asr_base (decode_lm) (baseline)|8.00|+0.00|" in text and "|asr_sd2|10.80|+2.80|" in text


def trn(root, name, errors, tag="decode_asr_model_valid"):
    """Scores of a run: utterance i has 5 reference words, errors[i] of them substituted."""
    score = root / name / tag / "test" / "score_wer"
    ref = "".join(f"a b c d e\t(spk-u{i})\n" for i in range(len(errors)))
    hyp = "".join(" ".join(["x"] * n + list("abcde")[n:]) + f"\t(spk-u{i})\n" for i, n in enumerate(errors))
    put(score / "ref.trn", ref)
    put(score / "hyp.trn", hyp)
    put(score / "result.json", {**WER, "err": 100 * sum(errors) / (5 * len(errors))})


def test_strategy_seeds_are_compared_with_the_baseline_seeds(tmp_path):
    exp = tmp_path / "exp"
    build_compute_tree(exp)
    out = tmp_path / "RESULTS.md"
    trn(exp, "asr_base", [1, 0, 0, 1] * 5)
    trn(exp, "asr_sd2", [0, 0, 0, 0] * 5)
    main([str(exp), "--out", str(out), "--baseline", "asr_base"])
    assert "seeds against the baseline" not in out.read_text()  # one baseline run: no seed comparison
    trn(exp, "asr_base_seed1", [1, 1, 0, 0] * 5)
    trn(exp, "asr_base_seed2", [2, 1, 0, 1] * 5)
    trn(exp, "asr_sd2_seed1", [0, 0, 1, 0] * 5)
    trn(exp, "asr_sd2_seed2", [0] * 20, tag="decode_int8")  # decoded otherwise: not a seed of this row
    main([str(exp), "--out", str(out), "--baseline", "asr_base"])
    lines = out.read_text().splitlines()
    start = lines.index("### Fast inference: seeds against the baseline (test)")
    table = lines.index("|system|seeds|WER (sd)|ΔWER [95 % CI]|P(better)|", start)
    rows = lines[table + 2:lines.index("", table)]
    assert rows[0] == "|asr_base (baseline)|3|13.33 (5.77)|||"
    # Seeds averaged per utterance: the baseline makes 8/3 errors in every 20 words, asr_sd2 0.5.
    assert len(rows) == 2 and rows[1].startswith("|asr_sd2|2|2.50 (3.54)|-10.83 [")
    low, high = (float(x) for x in rows[1].split("[")[1].split("]")[0].split(", "))
    assert low <= -10.83 <= high < 0.0 and float(rows[1].split("|")[5]) > 0.95


def test_baseline_seed_systems_are_its_seed_runs_decoded_as_its_row(tmp_path):
    exp = tmp_path / "exp"
    build_compute_tree(exp)
    decode(exp, "asr_base_seed1", 14.0, 2.2)
    decode(exp, "asr_base_seed2", 12.0)  # no macs.json: no point
    decode(exp, "asr_base_seed3_cnn", 5.0, 1.0)  # another system, not a seed run
    put(exp / "asr_base_seed2" / "decode_int8" / "test" / "macs.json", macs(1.0))  # another decoding
    experiments, names, baseline, _ = systems(exp, ComputeOptions("asr_base"))
    found = baseline_seed_systems(experiments, names, ComputeOptions("asr_base"), baseline.tag)
    assert [(name, s.err, s.gmacs) for name, s in found] == [("asr_base_seed1", 14.0, 2.2)]
