"""Collapse figures of a trained model's c_t on a held-out data dir (espnet2_ext.bin.context_heldout)."""

import json

import numpy as np
import pytest
import soundfile
import torch
from context_tiny import build, save_exp_dir
from helpers import tiny_sentence_encoder, write_lines

from espnet2_ext.bin.context_heldout import main
from espnet2_ext.context.text_targets import embed

TEXTS = {"a0": "the cat", "a1": "sat on", "a2": "the mat", "b0": "a dog", "b1": "the dog"}


def data_dir(root):
    data = root / "data"
    data.mkdir()
    rng = np.random.RandomState(0)
    for k, utt in enumerate(TEXTS):
        soundfile.write(data / f"{utt}.flac", 0.1 * rng.randn(4000 + 800 * k), 16000, subtype="PCM_16")
    write_lines(data / "wav.scp", [f"{u} {data / u}.flac" for u in TEXTS])
    write_lines(data / "utt2rec", [f"{u} {u[0]} {u[1]}" for u in TEXTS])
    write_lines(data / "text", [f"{u} {t}" for u, t in TEXTS.items()])
    return data


def vectors_of(model, data):
    """c_t of each segment, one at a time (no padding)."""
    out = {}
    with torch.no_grad():
        for utt in TEXTS:
            audio = torch.from_numpy(soundfile.read(data / f"{utt}.flac", dtype="float32")[0])[None]
            out[utt] = model.eval().context_vectors(audio, torch.tensor([audio.shape[1]]))[0]
    return out


def cosine(x, y):
    return torch.nn.functional.cosine_similarity(x, y, dim=0).item()


def test_neighbour_cosines_are_those_of_the_segments_own_vectors(tmp_path, capsys):
    exp = tmp_path / "exp"
    model = build(exp, "asr", model="ctx_aware", model_conf={"context_dim": 8})
    save_exp_dir(exp, model)
    data = data_dir(tmp_path)
    assert main([str(exp), str(data), "--checkpoint", "model.pth"]) == 0
    figures = json.loads(capsys.readouterr().out)[str(data)]
    c = vectors_of(model, data)
    neighbours = [("a0", "a1"), ("a1", "a0"), ("a1", "a2"), ("a2", "a1"), ("b0", "b1"), ("b1", "b0")]
    others = [(x, y) for x in TEXTS for y in TEXTS if x[0] != y[0]]
    assert figures["segments"] == 5 and figures["pairs"] == 6
    assert figures["ctx_cos_pos"] == pytest.approx(np.mean([cosine(c[x], c[y]) for x, y in neighbours]), abs=2e-3)
    assert figures["ctx_cos_other"] == pytest.approx(np.mean([cosine(c[x], c[y]) for x, y in others]), abs=2e-3)
    assert figures["ctx_spread"] > 0


def test_generative_context_is_scored_against_the_targets_of_the_data_dirs_text(tmp_path, capsys):
    words = [w for t in TEXTS.values() for w in t.split()]
    encoder = tiny_sentence_encoder(tmp_path / "encoder", words)
    exp = tmp_path / "exp"
    model = build(exp, "asr", model="ctx_aware", model_conf={
        "context_dim": 8, "context_source": "text", "context_text_dim": 8, "context_text_encoder": encoder})
    save_exp_dir(exp, model)
    data = data_dir(tmp_path)
    assert main([str(exp), str(data), "--checkpoint", "model.pth"]) == 0
    figures = json.loads(capsys.readouterr().out)[str(data)]
    c = vectors_of(model, data)
    own = dict(zip(TEXTS, torch.from_numpy(embed(list(TEXTS.values()), encoder))))
    targets = {"a0": own["a1"], "a1": own["a0"] + own["a2"], "a2": own["a1"], "b0": own["b1"], "b1": own["b0"]}
    with torch.no_grad():
        expected = np.mean([cosine(model.context_text_projection(c[u]), targets[u]) for u in TEXTS])
    assert figures["pairs"] == 5 and figures["ctx_cos_pos"] == pytest.approx(expected, abs=2e-3)


def test_a_model_without_context_and_a_segment_without_position_are_one_line(tmp_path, capsys):
    exp = tmp_path / "exp"
    save_exp_dir(exp, build(exp, "asr"))
    data = data_dir(tmp_path)
    assert main([str(exp), str(data), "--checkpoint", "model.pth"]) == 1
    assert "ESPnetASRModel has no context module (model: ctx_aware)" in capsys.readouterr().err
    save_exp_dir(exp, build(exp, "asr", model="ctx_aware", model_conf={"context_dim": 8}))
    write_lines(data / "utt2rec", [f"{u} {u[0]} {u[1]}" for u in list(TEXTS)[1:]])
    assert main([str(exp), str(data), "--checkpoint", "model.pth"]) == 1
    assert f"{data / 'utt2rec'}: no entry for 'a0' (1 segments)" in capsys.readouterr().err
    assert main([str(exp), str(data), "--checkpoint", "absent.pth"]) == 1
    assert f"{exp / 'absent.pth'}: no such file" in capsys.readouterr().err
