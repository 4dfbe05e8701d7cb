"""Tests for espnet2_ext.corpora.slue_metrics (SLUE NER F1/label-F1, sentiment macro-F1)."""

import json

import pytest

from espnet2_ext.corpora.slue_metrics import (
    main,
    make_distinct,
    ner_words,
    parse_entities,
    score_ner,
    score_sentiment,
    strip_markup,
)

# Hand-worked NER example.
# u1 ref: (PLACE eu 1) (PLACE eu 2) (WHEN monday 1)   hyp: (PLACE eu 1) (ORG eu 1) (WHEN mon day 1)
# u2 ref: (PERSON anna 1)     hyp (malformed): stray SEP, PERSON without FILL -> (PERSON anna 1),
#                                              QUANT never closed -> dropped
# u3 ref: (LAW article five 1)  hyp: missing
# F1: correct = PLACE eu + PERSON anna = 2, #ref 5, #hyp 4 -> P 50, R 40, F1 4/9 = 44.44
# label-F1 (phrase constant): u1 ref {PLACE1, PLACE2, WHEN1} hyp {PLACE1, ORG1, WHEN1} -> 2,
#   u2 -> 1; correct 3 -> P 75, R 60, F1 2/3
NER_REF = {
    "u1": "the PLACE FILL eu SEP and PLACE FILL eu SEP met on WHEN FILL monday SEP",
    "u2": "PERSON FILL anna SEP's plan",
    "u3": "LAW FILL article five SEP applies",
}
NER_HYP = {
    "u1": "the PLACE FILL eu SEP and ORG FILL eu SEP met on WHEN FILL mon day SEP",
    "u2": "SEP PERSON anna SEP's plan QUANT FILL two",
}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_ner_words_splits_glued_markup_and_detokenises_pieces():
    assert ner_words("PERSON FILL anna SEP's plan") == \
        ["PERSON", "FILL", "anna", "SEP", "'s", "plan"]
    assert ner_words("▁the ▁ PLACE ▁ FILL ▁e u SEP ▁is") == \
        ["the", "PLACE", "FILL", "eu", "SEP", "is"]


def test_parse_entities_counts_malformations():
    words = "SEP ORG FILL un PLACE FILL rome SEP WHEN SEP NORP FILL FILL x SEP LAW FILL y".split()
    entities, problems = parse_entities(words)
    assert entities == [("PLACE", "rome"), ("NORP", "x")]
    assert problems == {"sep_without_tag": 1, "unclosed_span": 2, "empty_phrase": 1,
                        "stray_fill": 1}
    assert parse_entities("QUANT two SEP".split()) == ([("QUANT", "two")], {"missing_fill": 1})


def test_make_distinct_numbers_repeats():
    assert make_distinct([("PLACE", "eu"), ("WHEN", "today"), ("PLACE", "eu")]) == \
        [("PLACE", "eu", 1), ("WHEN", "today", 1), ("PLACE", "eu", 2)]


def test_strip_markup_reattaches_possessive():
    assert strip_markup(ner_words(NER_REF["u2"])) == "anna's plan"


def test_score_ner_hand_worked():
    result = score_ner(NER_REF, NER_HYP)
    assert (result["num_correct"], result["num_ref"], result["num_hyp"]) == (2, 5, 4)
    assert (result["precision"], result["recall"]) == (50.0, 40.0)
    assert result["f1"] == pytest.approx(400 / 9)
    label = result["label"]
    assert (label["num_correct"], label["precision"], label["recall"]) == (3, 75.0, 60.0)
    assert result["label_f1"] == pytest.approx(200 / 3)
    assert result["per_tag"]["PLACE"] == {"precision": 100.0, "recall": 50.0,
                                          "f1": pytest.approx(200 / 3), "num_correct": 1,
                                          "num_ref": 2, "num_hyp": 1}
    assert sorted(result["per_tag"]) == ["LAW", "ORG", "PERSON", "PLACE", "WHEN"]
    # macro over those 5 tags: F1 = (0 + 0 + 100 + 66.67 + 0) / 5
    assert result["macro"]["f1"] == pytest.approx((100 + 200 / 3) / 5)
    assert result["num_missing_hyp"] == 1
    assert result["malformed"] == {"ref": {}, "hyp": {"sep_without_tag": 1, "missing_fill": 1,
                                                      "unclosed_span": 1}}


def test_ner_cli_writes_json_and_asr_texts(tmp_path):
    ref = write(tmp_path / "ref", "".join(f"{k} {v}\n" for k, v in NER_REF.items()))
    hyp = write(tmp_path / "hyp", "".join(f"{k} {v}\n" for k, v in NER_HYP.items()))
    out = tmp_path / "score_ner"
    assert main(["ner", "--ref", str(ref), "--hyp", str(hyp), "--outdir", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["f1"] == pytest.approx(400 / 9)
    assert result["label_f1"] == pytest.approx(200 / 3)
    assert (out / "ref_asr.txt").read_text() == \
        "u1 the eu and eu met on monday\nu2 anna's plan\nu3 article five applies\n"
    assert (out / "hyp_asr.txt").read_text() == \
        "u1 the eu and eu met on mon day\nu2 anna's plan two\n"
    assert "label-F1 micro" in (out / "result.txt").read_text()


# Hand-computed sentiment example (f has no hypothesis -> predicted <none>):
#   Negative: P 1/1 R 1/1 F 1;  Neutral: pred {b, d} true {d, e, f} P 1/2 R 1/3 F 0.4;
#   Positive: pred {a, e} true {a, b} P 1/2 R 1/2 F 0.5
#   macro-F1 = 1.9/3, macro-recall = (1 + 1/3 + 1/2)/3 = 11/18, accuracy = 3/6
SENT_REF = {"a": "Positive yes", "b": "Positive", "c": "Negative no", "d": "Neutral",
            "e": "Neutral", "f": "Neutral"}
SENT_HYP = {"a": "Positive", "b": "Neutral", "c": "Negative", "d": "Neutral ok", "e": "Positive"}


def test_score_sentiment_hand_computed():
    result = score_sentiment(SENT_REF, SENT_HYP)
    assert result["macro_f1"] == pytest.approx(190 / 3)
    assert result["macro_recall"] == pytest.approx(1100 / 18)
    assert result["accuracy"] == 50.0
    assert result["per_class"]["Neutral"] == {"precision": 50.0, "recall": pytest.approx(100 / 3),
                                              "f1": pytest.approx(40.0), "support": 3}
    assert result["confusion_matrix"] == {
        "labels": ["Negative", "Neutral", "Positive", "<none>"],
        "matrix": [[1, 0, 0, 0], [0, 1, 1, 1], [0, 1, 1, 0], [0, 0, 0, 0]],
    }


def test_label_absent_from_reference_is_wrong_but_not_a_class():
    result = score_sentiment({"a": "Positive", "b": "Negative"}, {"a": "Positive", "b": "Mixed"})
    # Negative: recall 0, precision 0 (never predicted); Positive: 1 -> macro-F1 50, not 33.3
    assert result["labels"] == ["Negative", "Positive"]
    assert result["macro_f1"] == 50.0
    assert result["accuracy"] == 50.0


def test_sentiment_cli(tmp_path, capsys):
    ref = write(tmp_path / "ref", "".join(f"{k} {v}\n" for k, v in SENT_REF.items()))
    hyp = write(tmp_path / "hyp", "".join(f"{k} {v}\n" for k, v in SENT_HYP.items()))
    out = tmp_path / "score_sentiment"
    assert main(["sentiment", "--ref", str(ref), "--hyp", str(hyp), "--outdir", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["macro_f1"] == pytest.approx(190 / 3)
    assert "report" not in result
    text = (out / "result.txt").read_text()
    assert "macro-F1 63.33  macro-recall 61.11  accuracy 50.00" in text
    assert "precision" in text and "Neutral" in text

    empty_ref = write(tmp_path / "ref2", "a Positive\nb\n")
    assert main(["sentiment", "--ref", str(empty_ref), "--hyp", str(hyp),
                 "--outdir", str(out)]) == 1
    assert f"{empty_ref}:2:" in capsys.readouterr().err
