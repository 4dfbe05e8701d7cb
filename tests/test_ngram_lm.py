"""espnet2_ext.recipe.ngram: interpolated Kneser-Ney estimates, the ARPA file, its queries, stage 9."""

import math
import os
import subprocess
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest

from espnet2_ext.recipe import ngram

ROOT = Path(__file__).resolve().parents[1]
CORPUS = [["a", "b"], ["a", "c"], ["b", "c"]]


@pytest.fixture
def bigram_lm(tmp_path) -> ngram.ArpaLM:
    ngram.write_arpa(ngram.estimate(CORPUS, 2), tmp_path / "2gram.arpa")
    return ngram.ArpaLM(tmp_path / "2gram.arpa")


def test_counts_are_raw_at_the_top_and_after_bos_else_continuation():
    unigrams, bigrams = ngram.kn_counts(CORPUS, 2)
    assert unigrams == {("<s>",): 3, ("a",): 1, ("b",): 2, ("c",): 2, ("</s>",): 2}
    assert bigrams[("<s>", "a")] == 2 and bigrams[("c", "</s>")] == 2 and bigrams[("a", "b")] == 1


def test_probabilities_by_hand(bigram_lm):
    # unigrams: continuation counts a 1, b/c/</s> 2 (total 7, 4 types), D1 = n1/(n1+2 n2) = 1/7,
    # interpolated with 1/5 (a, b, c, </s>, <unk>) by gamma = D1 * 4/7 = 4/49
    # bigrams: raw counts, n1 = 5, n2 = 2 -> D2 = 5/9
    expected = {
        ((), "a"): F(6, 49) + F(4, 49) / 5,             # 34/245
        ((), "b"): F(13, 49) + F(4, 49) / 5,            # 69/245
        ((), "<unk>"): F(4, 245),
        (("a",), "b"): (1 - F(5, 9)) / 2 + F(5, 9) * F(69, 245),      # gamma(a) = 5/9 * 2/2
        (("<s>",), "a"): (2 - F(5, 9)) / 3 + F(10, 27) * F(34, 245),  # gamma(<s>) = 5/9 * 2/3
        (("c",), "</s>"): (2 - F(5, 9)) / 2 + F(5, 18) * F(69, 245),  # gamma(c) = 5/9 * 1/2
        (("c",), "a"): F(5, 18) * F(34, 245),                         # unseen: backoff
        (("a",), "zzz"): F(5, 9) * F(4, 245),                         # out of vocabulary: <unk>
    }
    for (context, word), p in expected.items():
        assert 10 ** bigram_lm.log10_prob(context, word) == pytest.approx(float(p), rel=1e-6), (context, word)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_every_context_sums_to_one(tmp_path, order):
    sentences = [s.split() for s in ["the cat sat", "the dog sat on the mat", "a cat ran", "the cat ran on",
                                     "on the mat a dog", "dog"]]
    ngram.write_arpa(ngram.estimate(sentences, order), tmp_path / "lm.arpa")
    lm = ngram.ArpaLM(tmp_path / "lm.arpa")
    vocab = sorted(lm.vocab - {"<s>"})
    contexts = {g[:-1] for g in lm.logp} | {g for g in lm.logp if len(g) < order} | {("zebra",), ("the", "zebra")}
    for context in contexts:
        if context[-1:] != ("</s>",):
            total = sum(10 ** lm.log10_prob(context, w) for w in vocab)
            assert total == pytest.approx(1.0, abs=1e-5), context


def test_kenlm_reads_the_same_probabilities(tmp_path):
    import kenlm  # the test extra's: an independent reader of the ARPA format
    sentences = [s.split() for s in ["the cat sat", "the dog sat on the mat", "a cat ran on the mat"]]
    path = tmp_path / "3gram.arpa"
    ngram.write_arpa(ngram.estimate(sentences, 3), path)
    ours, theirs = ngram.ArpaLM(path), kenlm.Model(str(path))
    for sentence in ["the cat sat on the mat", "a zebra ran", "mat mat the"]:
        words, total = ["<s>", *sentence.split()], 0.0
        for i, word in enumerate(words[1:] + ["</s>"], start=1):
            total += ours.log10_prob(words[:i], word)
        assert total == pytest.approx(theirs.score(sentence), abs=1e-4)


def test_tiny_corpus_falls_back_to_the_default_discount():
    assert ngram.discount({("a",): 3, ("b",): 3}) == ngram.FALLBACK_DISCOUNT


def test_stage_9_writes_the_arpa_of_the_training_text_with_its_nlsyms_as_words(tmp_path):
    """NER's tags stay in the LM: its decoding (conf/decode_ner_lm.yaml) scores them as words."""
    recipe = tmp_path / "recipe"
    (recipe / "data" / "train").mkdir(parents=True)
    (recipe / "conf").mkdir()
    for name in ["ssl_ft.sh", "path.sh", "cmd.sh"]:
        (recipe / name).symlink_to(ROOT / "egs2" / "TEMPLATE" / "asr1" / name)
    (recipe / "data" / "train" / "text.ner").write_text(
        "u1 the PERSON FILL emma SEP spoke\nu2 SEP\nu3 emma spoke\n", encoding="utf-8")
    (recipe / "conf" / "nlsyms.txt").write_text("PERSON\nFILL\nSEP\n", encoding="utf-8")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["./ssl_ft.sh", "--train_set", "train", "--valid_set", "dev", "--test_sets", "test",
         "--train_config", "unused.yaml", "--target", "ner", "--text_name", "text.ner",
         "--nlsyms_txt", "conf/nlsyms.txt", "--ngram_num", "3", "--stage", "9", "--stop_stage", "9",
         "--ngpu", "0", "--python", sys.executable],
        cwd=recipe, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lm = ngram.ArpaLM(recipe / "exp" / "ngram" / "ner" / "3gram.arpa")
    assert lm.order == 3
    assert lm.vocab == {"<s>", "</s>", "<unk>", "the", "emma", "spoke", "PERSON", "FILL", "SEP"}
    assert math.isclose(sum(10 ** lm.log10_prob(("emma",), w) for w in lm.vocab - {"<s>"}), 1.0, abs_tol=1e-5)
    assert lm.log10_prob(("PERSON",), "FILL") > lm.log10_prob(("PERSON",), "spoke")
