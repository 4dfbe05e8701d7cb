"""Tests for mini_slue's recording topics (espnet2_ext/corpora/topics.py): only nouns and the topic
tags' entities change, a full share puts the topic's words in every such slot, the default corpus
is unchanged, and the recurrence measure on hand-made segments."""

import json
from pathlib import Path

import pytest
from helpers import copy_recipes, run, write_lines

from espnet2_ext.corpora import mini_slue, topics
from espnet2_ext.corpora.topics import TOPIC_TAGS, Topic, content_words, measure_recurrence, noun_forms

COUNTS = {"train": 4, "dev": 1, "test": 1}
NOUNS = noun_forms()


def test_no_topic_is_the_corpus_without_topics() -> None:
    assert mini_slue.plan_corpus(0, COUNTS) == mini_slue.plan_corpus(0, COUNTS, topic_share=0.0)


def test_topic_changes_only_nouns_and_topic_entities() -> None:
    # 20 recordings: a topic that lengthens a sentence past the limit must not make it redrawn
    counts = {**COUNTS, "train": 20}
    plain, topical = mini_slue.plan_corpus(0, counts), mini_slue.plan_corpus(0, counts, topic_share=1.0)
    changed = 0
    for a, b in zip(plain["train"], topical["train"]):
        assert (a.voice, a.rate, a.labels, a.pauses_cs) == (b.voice, b.rate, b.labels, b.pauses_cs)
        for x, y in zip(a.sentences, b.sentences):
            assert x.cue == y.cue
            tagged = [(p.tag, p.words) for p in x.pieces if p.tag and p.tag not in TOPIC_TAGS]
            assert tagged == [(p.tag, p.words) for p in y.pieces if p.tag and p.tag not in TOPIC_TAGS]
            changed += x.text() != y.text()
    assert changed > 0


def test_full_share_puts_the_topic_in_every_noun_and_entity_slot() -> None:
    generator = mini_slue.SentenceGenerator()
    for index in range(3):
        plan = mini_slue.plan_recording(generator, 0, "train", index, topic_share=1.0)
        rng = mini_slue.random.Random(f"mini_slue/0/train/{index}/topic")
        topic = Topic(generator.entities, len(generator.classes["noun.sg"]), rng, 1.0)
        topic_nouns = {generator.classes["noun.sg"][i] for i in topic.nouns}
        expected_spans = {f"{tag} {' '.join(pieces[-1].words[-1:] if tag == 'PERSON' else pieces[-1].words)}"
                          for tag, pieces in topic.entities.items()}
        for sentence in plan.sentences:
            nouns, spans = content_words(sentence.ner_text(), NOUNS)
            assert nouns <= topic_nouns and spans <= expected_spans


def test_share_must_be_a_fraction(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--outdir", str(tmp_path / "d"), "--audio_dir", str(tmp_path / "a"), "--topic_share", "1.5"]
    assert mini_slue.main(args) == 1
    assert "--topic_share must be within 0..1, got 1.5" in capsys.readouterr().err


def test_content_words_are_noun_lemmas_and_topic_entity_spans() -> None:
    line = ("the policies of PERSON FILL emma virtanen SEP on the policy in PLACE FILL tallinn SEP "
            "cost QUANT FILL fifteen euros SEP")
    assert content_words(line, NOUNS) == ({"policy"}, {"PERSON virtanen", "PLACE tallinn"})


def test_recurrence_against_another_recording_by_hand() -> None:
    a = [({"budget"}, {"PLACE riga"}), ({"budget", "vote"}, set()), ({"vote"}, {"PLACE riga"})]
    b = [({"budget"}, set()), ({"law"}, {"PLACE oslo"})]
    scores = measure_recurrence([a, b])
    # Nouns found in the neighbours: a[0] 1/1, a[1] 2/2, a[2] 1/1, b[0] 0/1, b[1] 0/1. At the same
    # indices of the other recording (b for a, a for b): a[0] in b[1] 0, a[1] in b[0] 1/2,
    # a[2] in b[1] 0, b[0] in a[1] 1, b[1] in a[0] and a[2] 0.
    assert scores["nouns_in_neighbours"] == pytest.approx(3 / 5, abs=1e-4)
    assert scores["nouns_in_other_recording"] == pytest.approx((0 + 0.5 + 0 + 1 + 0) / 5, abs=1e-4)
    # entities: a[0], a[2] have PLACE riga, their neighbour a[1] has none; b[1]'s oslo is not in b[0].
    assert scores["entities_in_neighbours"] == 0.0


def test_cli_reads_data_dirs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for rec in ("r1", "r2"):
        d = tmp_path / rec
        d.mkdir()
        write_lines(d / "text.ner", [f"{rec}_0 the policy of PLACE FILL riga SEP", f"{rec}_1 a policy for PLACE FILL riga SEP"])
        write_lines(d / "utt2rec", [f"{rec}_0 {rec} 0", f"{rec}_1 {rec} 1"])
    assert topics.main([str(tmp_path / "r1"), str(tmp_path / "r2")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["nouns_in_neighbours"] == scores["entities_in_neighbours"] == 1.0
    assert scores["nouns_in_other_recording"] == 1.0  # the same words in both recordings
    assert topics.main([str(tmp_path / "r1")]) == 1
    assert "need at least two recordings to compare with another one, got 1" in capsys.readouterr().err


def test_cli_measures_the_planned_corpus_without_synthesis(capsys: pytest.CaptureFixture) -> None:
    assert topics.main(["--planned_shares", "0", "1"]) == 0
    scores = json.loads(capsys.readouterr().out)
    for kind in ("nouns", "entities"):
        assert scores["0.0"][f"{kind}_in_neighbours"] < 0.02  # no topic: chance level
        assert scores["1.0"][f"{kind}_in_neighbours"] > 10 * scores["1.0"][f"{kind}_in_other_recording"]
    with pytest.raises(SystemExit):
        topics.main([])


def test_recipe_generates_a_topic_corpus_beside_the_default_one(tmp_path: Path) -> None:
    egs2, env = copy_recipes(tmp_path)
    recipe = egs2 / "mini_slue/asr1"
    run(["local/data.sh", "--size", "tiny", "--nj", "1", "--topic_share", "1"], recipe, env)
    params = json.loads((recipe / "data/corpus_params.json").read_text())
    assert params["topic_share"] == 1.0 and params["audio_dir"] == str((tmp_path / "corpus/audio_topic1").resolve())
    assert len(list((tmp_path / "corpus/audio_topic1/train").glob("*.wav"))) == mini_slue.SIZES["tiny"]["train"]
