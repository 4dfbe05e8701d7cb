"""Tests for espnet2_ext.recipe.significance (paired bootstrap, Bisani & Ney 2004)."""

import json
import math
import re
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import score as score_module
from espnet2_ext.recipe.significance import (
    System,
    compare,
    load_systems,
    main,
    paired_bootstrap,
    read_trn,
    score_dir_errors,
    stack_errors,
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def kaldi(mapping):
    return "".join(f"{k} {v}\n" for k, v in mapping.items())


# Words: u1 has 4, u2 2, u3 4 (10 in all). Errors per utterance are written beside each hypothesis.
REF = {"u1": "a b c d", "u2": "x y", "u3": "p q r s"}
HYPS = {
    "A1": {"u1": "a b c d", "u2": "x z", "u3": "p q"},          # 0, 1 sub, 2 del: 3 -> 30 %
    "A2": {"u1": "a b d", "u2": "x y", "u3": "p q r"},          # 1 del, 0, 1 del: 2 -> 20 %
    "B1": {"u1": "a b c d", "u2": "x y", "u3": "p q r x"},      # 0, 0, 1 sub: 1 -> 10 %
    "B2": {"u1": "a b c d", "u2": "x y", "u3": "p q r s"},      # 0 -> 0 %
}


@pytest.fixture
def decodes(tmp_path):
    """Stage-13 decode dirs made by score.py's own CLI: <name>/score_wer/{ref,hyp}.trn."""
    ref = write(tmp_path / "ref.txt", kaldi(REF))
    for name, hyp in HYPS.items():
        hyp_path = write(tmp_path / name / "text", kaldi(hyp))
        assert score_module.main(["--ref", str(ref), "--hyp", str(hyp_path), "--unit", "word",
                                  "--outdir", str(tmp_path / name / "score_wer")]) == 0
    return tmp_path


# ----------------------------------------------------------------------------- paired_bootstrap


def test_identical_systems_difference_zero_and_never_strictly_better():
    result = paired_bootstrap([1, 2, 0], [1, 2, 0], [3, 4, 5], num_samples=200)
    assert (result.rate_a, result.rate_b, result.diff) == (0.25, 0.25, 0.0)
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.prob_b_better == 0.0  # ties count as "not better"
    assert (result.num_samples, result.num_utts) == (200, 3)


def test_better_on_every_utterance_gives_p_one_and_ci_below_zero():
    result = paired_bootstrap([2, 3, 1], [1, 2, 0], [4, 5, 3], num_samples=500)
    assert result.rate_a == 0.5 and result.rate_b == 0.25 and result.diff == -0.25
    assert result.prob_b_better == 1.0
    assert result.ci_low <= result.diff <= result.ci_high < 0


def test_rates_are_ratios_of_sums_by_hand():
    # A: (1 + 0 + 3) / (2 + 3 + 5) = 0.4; B: (0 + 1 + 1) / 10 = 0.2 (a mean of per-utterance
    # rates would give A (0.5 + 0 + 0.6) / 3 = 0.367 instead).
    result = paired_bootstrap([1, 0, 3], [0, 1, 1], [2, 3, 5])
    assert result.rate_a == pytest.approx(0.4)
    assert result.rate_b == pytest.approx(0.2)
    assert result.diff == pytest.approx(-0.2)


def test_resampling_distribution_by_hand():
    # Two utterances, lengths 1 and 9; A errs once on the first, B once on the second: observed
    # rates 0.1 and 0.1. Resamples: {0,0} (p 1/4): A 1, B 0, B better, B-A = -1; {1,1} (1/4):
    # A 0, B 1/9, B-A = +1/9; mixed (1/2): both 1/10, a tie, "not better".
    result = paired_bootstrap([1, 0], [0, 1], [1, 9], num_samples=4000, seed=3)
    assert result.diff == 0.0
    assert abs(result.prob_b_better - 0.25) < 0.03
    # The 2.5th and 97.5th percentiles fall inside the blocks of -1 and of +1/9.
    assert result.ci_low == pytest.approx(-1.0)
    assert result.ci_high == pytest.approx(1 / 9)


def test_seed_determines_the_resamples():
    args = ([3, 0, 2, 5, 1, 0], [1, 1, 2, 3, 0, 1], [6, 4, 5, 8, 3, 2])
    first, again = paired_bootstrap(*args, seed=7), paired_bootstrap(*args, seed=7)
    other = paired_bootstrap(*args, seed=8)
    assert first == again
    assert (first.ci_low, first.ci_high, first.prob_b_better) != \
        (other.ci_low, other.ci_high, other.prob_b_better)
    assert (first.rate_a, first.diff) == (other.rate_a, other.diff)  # observed: no resampling


def test_resamples_drawn_in_blocks_are_the_requested_number(monkeypatch):
    monkeypatch.setattr("espnet2_ext.recipe.significance.BLOCK_ELEMENTS", 7)  # 2 rows a block
    result = paired_bootstrap([1, 0, 2], [0, 0, 1], [2, 2, 3], num_samples=5)
    assert result.num_samples == 5


def test_bad_inputs():
    with pytest.raises(ValueError, match="one length"):
        paired_bootstrap([1, 2], [1], [3, 4])
    with pytest.raises(DataError, match="no tokens"):
        paired_bootstrap([0, 0], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="num_samples"):
        paired_bootstrap([1], [0], [2], num_samples=0)


# ----------------------------------------------------------------------------- seeds


def test_seed_average_is_per_utterance_mean_and_spread_is_reported():
    lengths = np.array([5.0, 5.0])
    a = System(("a1", "a2"), np.array([[1.0, 2.0], [3.0, 4.0]]), lengths)  # 30 %, 70 %
    b = System(("b1",), np.array([[0.0, 1.0]]), lengths)  # 10 %
    assert a.mean_errors().tolist() == [2.0, 3.0]
    out = compare(a, b, num_samples=100)
    assert out["a"]["seed_rates"] == pytest.approx([0.3, 0.7])
    assert out["a"]["mean"] == pytest.approx(0.5)
    assert out["a"]["std"] == pytest.approx(math.sqrt(0.08))  # sample std: (0.2² + 0.2²) / 1
    assert out["b"]["std"] is None  # one seed: no spread
    # The averaged system's rate equals the mean of the seeds' rates (shared lengths).
    assert out["bootstrap"]["rate_a"] == pytest.approx(0.5)
    assert out["bootstrap"]["diff"] == pytest.approx(-0.4)


# ----------------------------------------------------------------------------- reading


def test_score_dir_errors_from_hand_written_trn(tmp_path):
    write(tmp_path / "ref.trn", "a b c\t(s1-u1)\n\t(s1-u2)\nx y\t(s2-u3)\n")
    write(tmp_path / "hyp.trn", "a c\t(s1-u1)\nz\t(s1-u2)\nx y w\t(s2-u3)\n")
    assert score_dir_errors(tmp_path) == {"s1-u1": (1.0, 3), "s1-u2": (1.0, 0),
                                          "s2-u3": (1.0, 2)}


def test_trn_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DataError, match=r"bad.trn:2: not a trn line"):
        read_trn(write(tmp_path / "bad.trn", "a\t(u1)\nb c\n"))
    with pytest.raises(DataError, match=r"dup.trn:2: duplicate id 'u1'"):
        read_trn(write(tmp_path / "dup.trn", "a\t(u1)\nb\t(u1)\n"))
    write(tmp_path / "d" / "ref.trn", "a\t(u1)\nb\t(u2)\n")
    write(tmp_path / "d" / "hyp.trn", "a\t(u1)\n")
    with pytest.raises(DataError, match=r"hyp.trn: 1 missing utterance\(s\).*first 'u2'"):
        score_dir_errors(tmp_path / "d")


def test_load_systems_matches_score_result_json(decodes):
    a, b = load_systems("wer", [decodes / "A1", decodes / "A2"], [decodes / "B1", decodes / "B2"])
    assert a.errors.tolist() == [[0, 1, 2], [1, 0, 1]]  # utterances u1, u2, u3
    assert b.errors.tolist() == [[0, 0, 1], [0, 0, 0]]
    assert a.lengths.tolist() == [4, 2, 4]
    for system in (a, b):
        for directory, rate in zip(system.dirs, system.seed_rates(), strict=True):
            result = json.loads((decodes / directory / "score_wer" / "result.json").read_text())
            assert 100 * rate == pytest.approx(result["err"])


def test_mismatched_utterances_name_the_dir_and_the_utterance(decodes):
    write(decodes / "C" / "score_wer" / "ref.trn", "a b c d\t(u1-u1)\nx y\t(u2-u2)\n")
    write(decodes / "C" / "score_wer" / "hyp.trn", "a b c d\t(u1-u1)\nx y\t(u2-u2)\n")
    with pytest.raises(DataError, match=r"C/score_wer: 1 missing utterance\(s\) compared with "
                       r".*A1/score_wer, first 'u3-u3'"):
        load_systems("wer", [decodes / "A1"], [decodes / "C"])
    with pytest.raises(DataError, match=r"A1/score_wer: 1 extra utterance\(s\) compared with "
                       r".*C/score_wer, first 'u3-u3'"):
        load_systems("wer", [decodes / "C"], [decodes / "A1"])


def test_another_reference_is_an_error():
    per_dir = [("d1", {"u1": (1.0, 4)}), ("d2", {"u1": (1.0, 5)})]
    with pytest.raises(DataError, match=r"d2: the reference of 'u1' has 5 tokens, 4 in d1"):
        stack_errors(per_dir)


# ----------------------------------------------------------------------------- CLI


def test_cli_wer_end_to_end(decodes, capsys):
    out = decodes / "sig.json"
    assert main(["--unit", "wer", "--a", str(decodes / "A1"), str(decodes / "A2"),
                 "--b", str(decodes / "B1"), str(decodes / "B2"), "--json", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    # Per-utterance seed means: A (0.5, 0.5, 1.5), B (0, 0, 0.5): B better on every utterance.
    assert re.fullmatch(
        r"WER: A 25\.0 % \(seeds 30\.0, 20\.0; sd 7\.1\) \| B 5\.0 % \(seeds 10\.0, 0\.0; sd 7\.1\)"
        r" \| B-A -20\.0 \[-\d+\.\d, -\d+\.\d\] 95 % CI \| P\(B better\) 1\.000 \(1000 resamples\)",
        line), line
    result = json.loads(out.read_text())
    assert result["unit"] == "wer"
    assert result["a"]["seed_rates"] == pytest.approx([0.3, 0.2])
    assert result["a"]["std"] == pytest.approx(math.sqrt(0.005))
    boot = result["bootstrap"]
    assert boot == json.loads(json.dumps(boot))  # plain numbers
    assert (boot["rate_a"], boot["rate_b"]) == (pytest.approx(0.25), pytest.approx(0.05))
    assert boot["diff"] == pytest.approx(-0.2)
    assert boot["ci_low"] <= boot["diff"] <= boot["ci_high"] < 0
    assert (boot["prob_b_better"], boot["num_samples"], boot["num_utts"]) == (1.0, 1000, 3)
    expected = paired_bootstrap([0.5, 0.5, 1.5], [0, 0, 0.5], [4, 2, 4])
    assert (boot["ci_low"], boot["ci_high"]) == \
        (pytest.approx(expected.ci_low), pytest.approx(expected.ci_high))


def test_cli_accuracy_end_to_end(tmp_path, capsys):
    ref = write(tmp_path / "text.sentiment",
                kaldi({"u1": "Positive", "u2": "Negative", "u3": "Neutral", "u4": "Positive"}))
    write(tmp_path / "A" / "text",
          kaldi({"u1": "Positive", "u2": "Positive", "u3": "Negative", "u4": "Positive"}))
    write(tmp_path / "B" / "text", kaldi({"u1": "Positive", "u2": "Negative", "u3": "Neutral"}))
    out = tmp_path / "sig.json"
    assert main(["--unit", "acc", "--ref", str(ref), "--a", str(tmp_path / "A"),
                 "--b", str(tmp_path / "B"), "--num_samples", "300", "--seed", "1",
                 "--json", str(out)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("ACC error: A 50.0 % (1 seed) | B 25.0 % (1 seed) | B-A -25.0 [")
    assert line.rstrip().endswith("(300 resamples)")
    boot = json.loads(out.read_text())["bootstrap"]
    # A wrong on u2, u3; B wrong on u4 only (missing hypothesis counts as wrong).
    assert (boot["rate_a"], boot["rate_b"], boot["diff"]) == (0.5, 0.25, -0.25)
    assert boot == asdict(paired_bootstrap([0, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1],
                                           num_samples=300, seed=1))
    assert 0.0 < boot["prob_b_better"] < 1.0


def test_cli_errors(decodes, tmp_path, capsys):
    write(tmp_path / "X" / "text", "u1 Positive\nu9 Negative\n")
    ref = write(tmp_path / "ref", "u1 Positive\nu2 Negative\n")
    assert main(["--unit", "acc", "--ref", str(ref), "--a", str(tmp_path / "X"),
                 "--b", str(tmp_path / "X")]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(r"ERROR: .*X/text: 1 utterance\(s\) not in the reference, first 'u9'\n",
                        err), err
    assert main(["--unit", "cer", "--a", str(decodes / "A1"), "--b", str(decodes / "B1")]) == 1
    assert re.fullmatch(r"ERROR: .*A1/score_cer/ref.trn: no such file\n", capsys.readouterr().err)
    with pytest.raises(SystemExit):
        main(["--unit", "acc", "--a", str(decodes / "A1"), "--b", str(decodes / "B1")])
    assert "--ref is needed" in capsys.readouterr().err


def test_module_runs_as_a_program(decodes):
    done = subprocess.run(
        [sys.executable, "-m", "espnet2_ext.recipe.significance", "--unit", "wer", "--num_samples",
         "50", "--a", str(decodes / "A1"), "--b", str(decodes / "A1")],
        capture_output=True, text=True, check=True)
    assert done.stdout == ("WER: A 30.0 % (1 seed) | B 30.0 % (1 seed) | B-A +0.0 [+0.0, +0.0] "
                           "95 % CI | P(B better) 0.000 (50 resamples)\n")
