"""espnet2_ext.ctc_lm and asr_inference --ctc_lm: CTC prefix beam search with a word n-gram LM."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from context_tiny import build
from helpers import write_lines

from espnet2_ext.bin import asr_inference
from espnet2_ext.bin.asr_inference import GreedyCTCSearch, get_parser, model_nlsyms, search_class
from espnet2_ext.ctc_lm import CTCWordLMSearch, SpanMarkup, WordLMScorer, ctc_labels, prefix_beam_search
from espnet2_ext.recipe import ngram
from espnet2_ext.tasks import ASRTask

ROOT = Path(__file__).resolve().parents[1]
TOKENS = ["<blank>", "<unk>", "<space>", "a", "c", "k", "t", "<sos/eos>"]
BLANK, UNK, SPACE, A, C, K, T, SOS_EOS = range(len(TOKENS))


class FixedCTC(torch.nn.Module):
    """CTC whose log-posteriors are the input itself."""

    def log_softmax(self, x):
        return torch.log_softmax(x, dim=-1)


def posteriors(frames) -> torch.Tensor:
    """Log-posteriors (T, vocab): each frame a {token: probability} dict, the rest spread evenly."""
    probs = torch.zeros(len(frames), len(TOKENS))
    for t, frame in enumerate(frames):
        rest = (1.0 - sum(frame.values())) / (len(TOKENS) - len(frame))
        probs[t] = rest
        for token, p in frame.items():
            probs[t, token] = p
    return probs.log()


# "kat cat" by a hair: the first word's c/k is a near-tie (0.52 against 0.46)
NEAR_TIE = posteriors([{K: 0.52, C: 0.46}, {A: 0.97}, {BLANK: 0.97}, {T: 0.97}, {SPACE: 0.97},
                       {C: 0.97}, {BLANK: 0.97}, {A: 0.97}, {T: 0.97}, {BLANK: 0.97}])


@pytest.fixture(scope="module")
def cat_lm(tmp_path_factory) -> ngram.ArpaLM:
    path = tmp_path_factory.mktemp("lm") / "3gram.arpa"
    ngram.write_arpa(ngram.estimate([["a", "cat"], ["cat"], ["a", "cat", "cat"], ["at", "a", "cat"]], 3), path)
    return ngram.ArpaLM(path)


def search(lm: ngram.ArpaLM, alpha: float, beta: float = 0.0) -> CTCWordLMSearch:
    return CTCWordLMSearch(FixedCTC(), SOS_EOS, SOS_EOS, TOKENS, WordLMScorer(lm, alpha, beta), beam=8)


def test_labels_of_an_espnet_char_token_list():
    assert ctc_labels(TOKENS) == [None, "<unk>", " ", "a", "c", "k", "t", None]
    assert ctc_labels(["<blank>", "<unk>", "'", "<space>", "<sos/eos>"]) == [None, "<unk>", "'", " ", None]
    with pytest.raises(ValueError, match="char token list"):
        ctc_labels(["<blank>", "▁the", "<sos/eos>"])


def test_non_linguistic_symbols_are_words_of_the_lm(tmp_path):
    """NER's entity tags are tokens of many chars (``--non_linguistic_symbols``): allowed only when
    named, and the LM scores each as the word it is in the training text."""
    tokens = ["<blank>", "<unk>", "<space>", "a", "c", "t", "TAG", "<sos/eos>"]
    blank, _, space, a, c, t, tag, _ = range(len(tokens))
    with pytest.raises(ValueError, match="non-linguistic"):
        ctc_labels(tokens)
    labels = ctc_labels(tokens, nlsyms={"TAG"})
    assert labels[tag] == "TAG" and labels[a] == "a"
    path = tmp_path / "2gram.arpa"
    ngram.write_arpa(ngram.estimate([["TAG", "cat"], ["TAG", "cat", "cat"]], 2), path)
    # "a cat" by a hair against "TAG cat": the LM, which has seen only the tag before "cat", flips it
    probs = np.full((6, len(tokens)), 0.01)
    for frame, (token, p) in enumerate([(a, 0.5), (space, 0.9), (c, 0.9), (a, 0.9), (t, 0.9), (blank, 0.9)]):
        probs[frame, token] = p
    probs[0, tag] = 0.44
    logp = np.log(probs / probs.sum(axis=1, keepdims=True))
    greedy, _ = prefix_beam_search(logp, labels, WordLMScorer(ngram.ArpaLM(path), 0.0, 0.0), 8)
    with_lm, _ = prefix_beam_search(logp, labels, WordLMScorer(ngram.ArpaLM(path), 0.5, 0.0), 8)
    assert greedy == [a, space, c, a, t] and with_lm == [tag, space, c, a, t]


MARKUP = SpanMarkup({"TAG"}, "FILL", "SEP")


def test_span_markup_allows_only_well_formed_entity_spans():
    def walk(labels):
        state = SpanMarkup.OUTSIDE
        for label in labels:
            state = MARKUP.next(state, label)
            if state is None:
                return None
        return state

    assert walk(["a", " ", "TAG", " ", "FILL", " ", "c", "a", "t", " ", "SEP", " ", "a"]) == SpanMarkup.OUTSIDE
    assert walk(["TAG", " ", "FILL", " ", "c"]) == SpanMarkup.INSIDE  # open: may not end here
    for broken in (["SEP"], ["TAG", "c"], ["TAG", "FILL", "SEP"], ["TAG", "FILL", "c", "TAG"], ["FILL"],
                   ["TAG", "FILL", "FILL"]):
        assert walk(broken) is None, broken


def test_the_markup_closes_a_span_the_lm_search_would_leave_open(tmp_path):
    """"TAG FILL cat", then a blank likelier than SEP: the markup search ends the span with SEP."""
    tokens = ["<blank>", "<unk>", "<space>", "a", "c", "t", "TAG", "FILL", "SEP", "<sos/eos>"]
    blank, _, space, a, c, t, tag, fill, sep, _ = range(len(tokens))
    labels = ctc_labels(tokens, nlsyms={"TAG", "FILL", "SEP"})
    frames = [{tag: 0.9}, {space: 0.9}, {fill: 0.9}, {space: 0.9}, {c: 0.9}, {a: 0.9}, {t: 0.9},
              {blank: 0.6, sep: 0.35}, {blank: 0.9}]
    probs = np.full((len(frames), len(tokens)), 0.005)
    for row, frame in zip(probs, frames):
        for token, p in frame.items():
            row[token] = p
    logp = np.log(probs / probs.sum(axis=1, keepdims=True))
    path = tmp_path / "2gram.arpa"
    ngram.write_arpa(ngram.estimate([["TAG", "FILL", "cat", "SEP"], ["a", "cat"]], 2), path)
    lm = ngram.ArpaLM(path)
    free, _ = prefix_beam_search(logp, labels, WordLMScorer(lm, 0.0, 0.0), 8)
    constrained, score = prefix_beam_search(logp, labels, WordLMScorer(lm, 0.0, 0.0, MARKUP), 8)
    assert free == [tag, space, fill, space, c, a, t]  # the span is left open
    assert constrained == free + [sep] and np.isfinite(score)


def test_the_model_s_non_linguistic_symbols_file_is_read_or_named(tmp_path):
    write_lines(tmp_path / "nlsyms.txt", ["PERSON", "FILL"])
    assert model_nlsyms(argparse.Namespace(non_linguistic_symbols=str(tmp_path / "nlsyms.txt"))) == {"PERSON", "FILL"}
    assert model_nlsyms(argparse.Namespace(non_linguistic_symbols=None)) == set()
    with pytest.raises(FileNotFoundError, match="gone.txt"):
        model_nlsyms(argparse.Namespace(non_linguistic_symbols=str(tmp_path / "gone.txt")))


def test_the_lm_flips_a_near_tie_to_the_word_it_knows(cat_lm):
    (greedy,) = GreedyCTCSearch(FixedCTC(), SOS_EOS, SOS_EOS)(NEAR_TIE)
    assert greedy.yseq.tolist() == [SOS_EOS, K, A, T, SPACE, C, A, T, SOS_EOS]
    (with_lm,) = search(cat_lm, alpha=0.5, beta=1.0)(NEAR_TIE)
    assert with_lm.yseq.tolist() == [SOS_EOS, C, A, T, SPACE, C, A, T, SOS_EOS]
    (without_lm,) = search(cat_lm, alpha=0.0)(NEAR_TIE)
    assert without_lm.yseq.tolist() == greedy.yseq.tolist()


def test_repeats_need_a_blank_and_never_emitted_tokens_stay_out(cat_lm):
    frames = posteriors([{A: 0.9}, {A: 0.9}, {BLANK: 0.9}, {A: 0.9}, {SOS_EOS: 0.9}])
    tokens, score = prefix_beam_search(frames.numpy(), ctc_labels(TOKENS), WordLMScorer(cat_lm, 0.0, 0.0), 8)
    assert tokens == [A, A]  # "a a" collapses to "a", the blank separates the second; <sos/eos> never
    assert score < 0


def test_out_of_vocabulary_words_score_as_unk(cat_lm):
    scorer = WordLMScorer(cat_lm, alpha=1.0, beta=0.0)
    labels = ctc_labels(TOKENS)
    prefix = scorer.root()
    for token in [K, A, T]:
        prefix = scorer.extend(prefix, token, labels[token])
    assert prefix.partial == "kat" and prefix.lm_score < prefix.words_score  # no LM word starts "k"
    assert scorer.final(prefix) == pytest.approx(
        np.log(10) * (cat_lm.log10_prob(("<s>",), "<unk>") + cat_lm.log10_prob(("<s>", "kat"), "</s>")))


def test_the_decoding_config_selects_the_lm_search(tmp_path):
    required = ["--output_dir", "x", "--data_path_and_name_and_type", "a,b,c"]
    args = vars(get_parser().parse_args(["--config", str(ROOT / "conf" / "decode_asr_lm.yaml"), *required]))
    assert args["ctc_lm"] == "exp/ngram/asr/4gram.arpa" and not args["ctc_greedy"]
    assert search_class(dict(args)).__name__ == "WordLMSpeech2Text"
    with pytest.raises(ValueError, match="choose one"):
        search_class({**args, "ctc_greedy": True})
    ner = ROOT / "egs2" / "mini_slue" / "asr1" / "conf" / "decode_ner_lm.yaml"
    ner_args = vars(get_parser().parse_args(["--config", str(ner), "--ctc_lm_markup", "true", *required]))
    assert ner_args["ctc_lm_markup"] and not args["ctc_lm_markup"]
    assert search_class(dict(ner_args)).__name__ == "WordLMSpeech2Text"
    with pytest.raises(ValueError, match="give --ctc_lm too"):
        search_class({**ner_args, "ctc_lm": None})
    for link in ["mini_slue", "fsdd_digits"]:
        conf = ROOT / "egs2" / link / "asr1" / "conf" / "decode_asr_lm.yaml"
        assert conf.resolve() == (ROOT / "conf" / "decode_asr_lm.yaml").resolve()


def test_the_decoding_program_with_the_lm_config(tmp_path):
    """A tiny CTC model whose every frame is a near-tie, a (0.51) against b (0.49): best path says
    "a", the LM, which knows only "b", says "b"; timing.json is written as for any search."""
    model = build(tmp_path / "exp", "asr")  # tokens <blank> <unk> a b <sos/eos>
    with torch.no_grad():
        model.ctc.ctc_lo.weight.zero_()
        model.ctc.ctc_lo.bias.copy_(torch.tensor([-9.0, -9.0, 0.04, 0.0, -9.0]))
    args = ASRTask.get_parser().parse_args(
        ["--config", str(tmp_path / "exp" / "conf.yaml"), "--token_type", "char", "--output_dir", str(tmp_path)])
    args.token_list = (tmp_path / "exp" / "tokens.txt").read_text().split()  # as training saves it
    (tmp_path / "exp" / "config.yaml").write_text(yaml.safe_dump(vars(args)))
    torch.save(model.state_dict(), tmp_path / "exp" / "model.pth")
    ngram.write_arpa(ngram.estimate([["b"], ["b", "b"]], 2), tmp_path / "2gram.arpa")
    soundfile.write(tmp_path / "u1.wav", 0.1 * np.random.RandomState(0).randn(4000), 16000)
    write_lines(tmp_path / "wav.scp", [f"u1 {tmp_path / 'u1.wav'}"])
    common = [f"--data_path_and_name_and_type={tmp_path / 'wav.scp'},speech,sound",
              "--asr_train_config", str(tmp_path / "exp" / "config.yaml"),
              "--asr_model_file", str(tmp_path / "exp" / "model.pth")]
    asr_inference.main([*common, "--output_dir", str(tmp_path / "greedy"), "--ctc_greedy", "true"])
    asr_inference.main([*common, "--output_dir", str(tmp_path / "lm"), "--config", str(ROOT / "conf" / "decode_asr_lm.yaml"),
                        "--ctc_lm", str(tmp_path / "2gram.arpa")])
    assert (tmp_path / "greedy" / "1best_recog" / "text").read_text() == "u1 a\n"
    assert (tmp_path / "lm" / "1best_recog" / "text").read_text() == "u1 b\n"
    assert json.loads((tmp_path / "lm" / "timing.json").read_text())["num_utts"] == 1
