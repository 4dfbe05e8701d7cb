"""Tests for espnet2_ext.recipe.score (stage 13 error rates without sclite)."""

import io
import json
import logging

import pytest
import sentencepiece as spm

from espnet2_ext.errors import DataError
from espnet2_ext.recipe.score import main, make_tokenizer, parse_nlsyms, score


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_word_counts_sub_and_ins():
    summary = score({"u1": "a b c d"}, {"u1": "a x c d e"}, unit="word")
    assert summary.utts[0].counts == (3, 1, 0, 1)
    assert summary.totals() == {"num_snt": 1, "num_wrd": 4, "num_corr": 3, "num_sub": 1,
                                "num_del": 0, "num_ins": 1, "num_snt_err": 1}
    rates = summary.rates()
    assert (rates["corr"], rates["sub"], rates["ins"], rates["err"]) == (75.0, 25.0, 25.0, 50.0)
    assert summary.sum_avg_line() == "| Sum/Avg | 1 4 | 75.0 25.0 0.0 25.0 50.0 100.0 |"


def test_char_mode_uses_space_symbol_and_normalises_whitespace():
    summary = score({"u1": "ab c"}, {"u1": "ab   d"}, unit="char")
    utt = summary.utts[0]
    assert utt.ref == ["a", "b", "<space>", "c"]
    assert utt.hyp == ["a", "b", "<space>", "d"]
    assert utt.counts == (3, 1, 0, 0)


def test_char_mode_nlsyms_atomic_or_removed():
    keep = make_tokenizer("char", nlsyms=["FILL"])
    assert keep("a FILL b") == ["a", "<space>", "FILL", "<space>", "b"]
    drop = make_tokenizer("char", nlsyms=["FILL"], remove_nlsyms=True)
    assert drop("FILL a FILL b") == ["a", "<space>", "b"]  # no stray <space> runs


def test_word_mode_removes_nlsyms_and_token_mode_without_model_is_whitespace():
    assert make_tokenizer("word", ["SEP", "FILL"], remove_nlsyms=True)("x FILL y SEP") == ["x", "y"]
    assert make_tokenizer("token")("x FILL y") == ["x", "FILL", "y"]


def test_token_mode_with_bpemodel(tmp_path):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(["ab c", "abc cab", "a b c"]),
                                   model_writer=model, vocab_size=7, model_type="char",
                                   minloglevel=2)
    model_path = tmp_path / "bpe.model"
    model_path.write_bytes(model.getvalue())
    tokenizer = make_tokenizer("token", bpemodel=model_path)
    assert tokenizer("ab c") == ["▁", "a", "b", "▁", "c"]
    summary = score({"u1": "ab c"}, {"u1": "ab"}, unit="token", tokenizer=tokenizer)
    assert summary.utts[0].counts == (3, 0, 2, 0)
    with pytest.raises(ValueError, match="remove_nlsyms"):
        make_tokenizer("token", ["FILL"], remove_nlsyms=True, bpemodel=model_path)


def test_missing_hyp_is_all_deletions_with_warning(caplog):
    with caplog.at_level(logging.WARNING):
        summary = score({"u1": "a b", "u2": "c d e"}, {"u1": "a b"})
    assert "u2" in caplog.text
    assert summary.num_missing_hyp == 1
    assert summary.utts[1].counts == (0, 0, 3, 0)
    assert summary.sum_avg_line() == "| Sum/Avg | 2 5 | 40.0 0.0 60.0 0.0 60.0 50.0 |"


def test_hyp_only_utterance_is_an_error():
    with pytest.raises(DataError, match="u9"):
        score({"u1": "a"}, {"u1": "a", "u9": "b"})


def test_parse_nlsyms_from_list_or_file(tmp_path):
    assert parse_nlsyms("FILL,SEP") == ["FILL", "SEP"]
    assert parse_nlsyms(str(write(tmp_path / "nlsyms.txt", "<noise>\n<laugh>\n"))) == \
        ["<noise>", "<laugh>"]
    assert parse_nlsyms(None) == []


def test_cli_writes_trn_result_txt_and_json(tmp_path):
    ref = write(tmp_path / "ref", "s1_u1 a b c d\ns1_u2 x y\n")
    hyp = write(tmp_path / "hyp", "s1_u1 a x c d e\n")
    utt2spk = write(tmp_path / "utt2spk", "s1_u1 s1\ns1_u2 s1\n")
    out = tmp_path / "score_wer"
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--unit", "word",
                 "--utt2spk", str(utt2spk), "--outdir", str(out)]) == 0
    assert (out / "ref.trn").read_text() == "a b c d\t(s1-s1_u1)\nx y\t(s1-s1_u2)\n"
    assert (out / "hyp.trn").read_text() == "a x c d e\t(s1-s1_u1)\n\t(s1-s1_u2)\n"
    lines = (out / "result.txt").read_text().splitlines()
    # C=3 S=1 D=2 I=1 over N=6 words; both sentences have errors.
    assert "| Sum/Avg | 2 6 | 50.0 16.7 33.3 16.7 66.7 100.0 |" in lines
    block = lines.index("id: (s1-s1_u1)")
    assert lines[block:block + 5] == ["id: (s1-s1_u1)", "Scores: (#C #S #D #I) 3 1 0 1",
                                      "REF:  a b c d ***", "HYP:  a x c d e",
                                      "Eval:   S     I"]
    result = json.loads((out / "result.json").read_text())
    assert {k: result[k] for k in ("num_snt", "num_wrd", "num_corr", "num_sub", "num_del",
                                   "num_ins", "num_snt_err", "num_missing_hyp")} == \
        {"num_snt": 2, "num_wrd": 6, "num_corr": 3, "num_sub": 1, "num_del": 2, "num_ins": 1,
         "num_snt_err": 2, "num_missing_hyp": 1}
    assert result["err"] == pytest.approx(400 / 6)
    assert result["snt_err"] == 100.0


def test_cli_names_file_and_line_of_unknown_hyp(tmp_path, capsys):
    ref = write(tmp_path / "ref", "u1 a\n")
    hyp = write(tmp_path / "hyp", "u1 a\nu7 b\n")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--outdir", str(tmp_path / "o")]) == 1
    assert f"{hyp}:2: utterance 'u7'" in capsys.readouterr().err


def test_cli_rejects_reference_without_tokens(tmp_path, capsys):
    ref = write(tmp_path / "ref", "u1\n")
    hyp = write(tmp_path / "hyp", "u1 a\n")
    assert main(["--ref", str(ref), "--hyp", str(hyp), "--outdir", str(tmp_path / "o")]) == 1
    assert "no tokens" in capsys.readouterr().err
