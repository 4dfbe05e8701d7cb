"""Tests for espnet2_ext.recipe.tokens (stage 5)."""

from pathlib import Path
from typing import List

import pytest
import sentencepiece

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import tokens
from helpers import write_lines


def read(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_char_with_atomic_nlsyms_and_added_symbol(tmp_path):
    text = write_lines(tmp_path / "text", ["u1 ab FILL b", "u2 b a SEP"])
    out = tmp_path / "char"
    assert tokens.main(["--token_type", "char", "--text", str(text), "--outdir", str(out),
                        "--nlsyms", "FILL,SEP", "--add_symbols", "<sc>"]) == 0
    # counts: <space> 4, b 3, a 2, FILL 1, SEP 1 (ties in order of appearance)
    assert read(out / "tokens.txt") == ["<blank>", "<unk>", "<sc>", "<space>", "b", "a", "FILL", "SEP", "<sos/eos>"]
    assert read(out / "nlsyms.txt") == ["FILL", "SEP"]


def test_char_without_nlsyms_splits_them(tmp_path):
    text = write_lines(tmp_path / "text", ["u1 ab FILL"])
    out = tokens.char_word_tokens(text, tmp_path / "char", "char")
    # counts: L 2, then a b <space> F I with 1 each in order of appearance
    assert read(out) == ["<blank>", "<unk>", "L", "a", "b", "<space>", "F", "I", "<sos/eos>"]


def test_word_tokens(tmp_path):
    text = write_lines(tmp_path / "text", ["u1 the cat the", "u2 a cat  the", "u3"])
    out = tokens.char_word_tokens(text, tmp_path / "word", "word", oov="<oov>")
    assert read(out) == ["<blank>", "<oov>", "the", "cat", "a", "<sos/eos>"]


def test_bpe_keeps_user_symbols_whole_and_is_deterministic(tmp_path):
    sentences = ["hello there FILL cat", "the cat sat SEP here", "hello cat FILLthere", "there the hat"]
    text = write_lines(tmp_path / "text", [f"u{i} {s}" for i, s in enumerate(sentences * 3)])
    argv = ["--token_type", "bpe", "--nbpe", "20", "--nlsyms", "FILL SEP", "--text", str(text)]
    assert tokens.main([*argv, "--outdir", str(tmp_path / "a")]) == 0
    listed = read(tmp_path / "a" / "tokens.txt")
    vocab = [line.split("\t")[0] for line in read(tmp_path / "a" / "bpe.vocab")]
    assert vocab[:5] == ["<unk>", "<s>", "</s>", "FILL", "SEP"]
    assert listed == ["<blank>", "<unk>", *vocab[3:], "<sos/eos>"] and len(listed) == 20 - 3 + 3
    model = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / "a" / "bpe.model"))
    assert "FILL" in model.encode("xFILLy", out_type=str)
    first = [(tmp_path / "a" / name).read_bytes() for name in ("tokens.txt", "bpe.model")]
    tokens.main([*argv, "--outdir", str(tmp_path / "a")])
    assert [(tmp_path / "a" / name).read_bytes() for name in ("tokens.txt", "bpe.model")] == first


def test_bpe_vocabulary_too_large(tmp_path):
    text = write_lines(tmp_path / "text", ["u1 ab", "u2 ba"])
    with pytest.raises(DataError, match=rf"^{text}: sentencepiece cannot train unigram with 500 tokens: .*too high"):
        tokens.bpe_tokens(text, tmp_path / "bpe", 500)


def test_label_list_for_classification(tmp_path):
    text = write_lines(tmp_path / "text.sentiment", ["u1 positive", "u2 negative", "u3 neutral", "u4 positive"])
    assert tokens.main(["--label_list", "--text", str(text), "--outdir", str(tmp_path / "cls")]) == 0
    # ESPnet's CLS task has len(token_list) - 1 classes: <unk> must be last
    assert read(tmp_path / "cls" / "tokens.txt") == ["negative", "neutral", "positive", "<unk>"]
    write_lines(text, ["u1 <unk>"])
    with pytest.raises(DataError, match="'<unk>' is used as a label"):
        tokens.label_list(text, tmp_path / "cls")


def test_token_type_required(tmp_path):
    with pytest.raises(SystemExit):
        tokens.main(["--text", str(tmp_path / "t"), "--outdir", str(tmp_path)])
