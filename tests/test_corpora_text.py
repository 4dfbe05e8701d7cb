"""Tests for the text side of the synthetic corpus: grammar, entities, sentences, sentiment."""

import random
from pathlib import Path

import pytest

from espnet2_ext.corpora.entities import TAGS, EntityBank, number_to_words, ordinal_words, year_words
from espnet2_ext.corpora.grammar import Grammar, Piece
from espnet2_ext.corpora.sentences import Sentence, SentenceGenerator, _fix_articles
from espnet2_ext.corpora.sentiment import SentimentModel, find_cue, measure_predictability
from espnet2_ext.errors import DataError


@pytest.mark.parametrize(
    "n, words",
    [(0, "zero"), (15, "fifteen"), (42, "forty two"), (100, "one hundred"), (250, "two hundred and fifty"),
     (1005, "one thousand and five"), (2019, "two thousand and nineteen"),
     (1250, "one thousand two hundred and fifty"), (3500000, "three million five hundred thousand")],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_ordinals_and_years() -> None:
    assert [ordinal_words(n) for n in (1, 2, 3, 5, 12, 20, 21)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty first"]
    rng = random.Random(0)
    assert year_words(1995, rng) == "nineteen ninety five"
    assert year_words(2008, rng) == "two thousand and eight"
    assert {year_words(2019, random.Random(i)) for i in range(20)} == {"twenty nineteen", "two thousand and nineteen"}


def test_list_entity_keeps_leading_article_outside_the_span() -> None:
    bank = EntityBank()
    bank.lists["ORG"] = ["the european commission"]
    assert bank.draw("ORG", "", random.Random(0)) == [Piece(("the",)), Piece(("european", "commission"), "ORG")]
    with pytest.raises(KeyError):
        bank.draw("ORG", "money", random.Random(0))


def test_grammar_expansion_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("S -> the <noun> was [ORG] *2  # comment\nS -> hello there ?X\nX -> world\n")
    grammar = Grammar.load(path)
    fill = lambda terminal, rng: [Piece((terminal.name,), "T" if terminal.kind == "entity" else None)]  # noqa: E731
    texts = {" ".join(w for p in grammar.expand("S", random.Random(i), fill) for w in p.words) for i in range(40)}
    assert texts == {"the noun was ORG", "hello there", "hello there world"}
    assert grammar.literals() == {"the", "was", "hello", "there", "world"}


@pytest.mark.parametrize(
    "content, message",
    [("S -> A\n", ":1: 'S' uses undefined nonterminal 'A'"),
     ("S -> x\n\nS -> Y\nY -> S\n", ": recursive rules: S -> Y -> S"),
     ("S -> x\nS -> Bad!\n", ":2: bad symbol 'Bad!'"),
     ("s -> x\n", ":1: expected 'NONTERMINAL -> symbols', got 's -> x'")],
)
def test_grammar_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "g.txt"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        Grammar.load(path)
    assert str(err.value) == f"{path}{message}"


def test_articles_follow_the_next_sound() -> None:
    pieces = [Piece(("a",)), Piece(("european",), "NORP"), Piece(("a", "hour", "a", "idea", "a"))]
    words = [w for p in _fix_articles(pieces) for w in p.words]
    assert words == ["a", "european", "an", "hour", "an", "idea", "a"]


def test_sentence_rendering() -> None:
    pieces = (Piece(("the", "minister", "from")), Piece(("south", "africa"), "PLACE"), Piece(("said",)))
    sentence = Sentence(pieces, None)
    assert sentence.text() == "the minister from south africa said"
    assert sentence.ner_text() == "the minister from PLACE FILL south africa SEP said"


def test_generated_sentences_have_one_cue_of_the_asked_polarity() -> None:
    generator = SentenceGenerator()
    cues = generator.cue_phrases()
    rng = random.Random(3)
    for polarity in (None, "Negative", "Neutral", "Positive") * 10:
        sentence = generator.sentence(rng, polarity)
        assert find_cue(sentence.words, cues) == polarity
        assert 4 <= len(sentence.words) <= 30
        assert all(p.tag in TAGS for p in sentence.pieces if p.tag)
        assert sentence.text() == sentence.text().lower()


def test_sentiment_model_labels_and_cues() -> None:
    sampled = SentimentModel().sample(random.Random(0), 2000)
    labels = [label for label, _ in sampled]
    assert set(labels) == {"Negative", "Neutral", "Positive"}
    with_cue = [(label, cue) for label, cue in sampled if cue is not None]
    assert 0.6 < len(with_cue) / len(sampled) < 0.8  # cue_prob = 0.7
    agreement = sum(label == cue for label, cue in with_cue) / len(with_cue)
    assert 0.55 < agreement < 0.72  # 0.45 + 0.55 / 3 = 0.63
    switches = sum(a != b for a, b in zip(labels, labels[1:])) / (len(labels) - 1)
    assert switches < 0.3  # the mood drifts slowly


def test_measure_predictability_on_hand_made_recordings() -> None:
    pos, neg, neu = "Positive", "Negative", "Neutral"
    recordings = [
        [(pos, pos), (pos, None), (pos, None)],  # train
        [(neg, neg), (neg, None), (neg, None)],  # test
        [(neg, neg), (neg, None), (neg, None)],  # train
        [(pos, pos), (pos, None), (neu, None)],  # test
    ]
    assert measure_predictability(recordings) == {
        "majority": 0.5,  # train tie Negative/Positive goes to Negative: right on 3 of 6
        "own_cue": 0.6667,  # no cue -> Negative: wrong on the last two sentences
        "own_and_neighbour_cues": 0.8333,  # the positive cue two sentences back: wrong only on the Neutral one
        "neighbour_labels": 0.6667,  # (Positive, Neutral) unseen -> Negative; (Positive, edge) -> Positive
        "neighbour_labels_and_own_cue": 0.6667,
    }
