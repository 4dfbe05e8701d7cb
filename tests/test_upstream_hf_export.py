"""Exporting an upstream as a transformers directory: transformers' own model gives the
upstream's hidden states, the project's loader reads the directory back, WavLM and pre-LN
wav2vec 2.0 survive a transformers -> project -> transformers round trip, and bad input gives
one clear line."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

from helpers import TINY_HF

from espnet2_ext.errors import DataError
from espnet2_ext.upstream import hf_export
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend
from espnet2_ext.upstream.hf_export import export_to_transformers, main

ROOT = Path(__file__).resolve().parents[1]
TINY_UPSTREAM = ROOT / "egs2/mini_slue/ssl1/pretrained/upstream.pth"
ATOL = 1e-4
HF_MODELS = {
    "wavlm": (WavLMModel, WavLMConfig(**TINY_HF, num_buckets=16, max_bucket_distance=40)),
    # wav2vec 2.0 Large layout: layer-norm CNN with bias, pre-LN transformer (final LayerNorm).
    "wav2vec2_large_style": (
        Wav2Vec2Model,
        Wav2Vec2Config(**TINY_HF, feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True),
    ),
}


def one_second(seed: int = 0) -> torch.Tensor:
    return torch.randn(1, 16000, generator=torch.Generator().manual_seed(seed))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "tiny_hubert"
    assert main([str(TINY_UPSTREAM), "--out", str(out)]) == 0
    return out


def test_transformers_model_gives_the_upstreams_hidden_states(exported):
    assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in exported.iterdir()}
    assert json.loads((exported / "config.json").read_text())["architectures"] == ["HubertModel"]
    card = (exported / "README.md").read_text()
    assert str(TINY_UPSTREAM) in card and "valid masked accuracy" in card  # summary.md copied
    assert "local_files_only=True" in card and "see the training data" in card
    hf = AutoModel.from_pretrained(exported, local_files_only=True).eval()
    assert type(hf).__name__ == "HubertModel"
    frontend = SSLUpstreamFrontend(weights=str(TINY_UPSTREAM)).eval()
    wave = one_second()
    with torch.no_grad():
        states = hf(wave, output_hidden_states=True)
        layers, _ = frontend.iter_layers(wave, torch.tensor([wave.size(1)]))
        layers = list(layers)
        upstream = frontend.upstream
        feats, _ = upstream.feature_extractor(wave, None)
        first = upstream.encoder.transformer._preprocess(upstream.encoder.feature_projection(feats))
    assert len(states.hidden_states) == len(layers) + 1 == 5
    # A post-LN model: hidden_states[-1] is last_hidden_state, and both are the top layer's output.
    for ours, theirs in zip([first, *layers, layers[-1]], [*states.hidden_states, states.last_hidden_state]):
        assert max_diff(ours, theirs) < ATOL


def test_exported_directory_loads_back_through_the_frontend(exported):
    original = SSLUpstreamFrontend(weights=str(TINY_UPSTREAM), weighted_sum=True).eval()
    reloaded = SSLUpstreamFrontend(weights=str(exported), weighted_sum=True).eval()
    for key, value in original.upstream.state_dict().items():
        assert torch.equal(value, reloaded.upstream.state_dict()[key]), key
    wave = torch.cat([one_second(1), one_second(2)])
    wave[1, 9001:] = 0.0
    lengths = torch.tensor([16000, 9001])
    with torch.no_grad():
        feats, lens = original(wave, lengths)
        feats_back, lens_back = reloaded(wave, lengths)
    assert lens.tolist() == lens_back.tolist() == [49, 27]
    for b, n in enumerate(lens.tolist()):
        assert max_diff(feats[b, :n], feats_back[b, :n]) < ATOL


@pytest.mark.parametrize("name", sorted(HF_MODELS))
def test_transformers_model_survives_project_round_trip(name, tmp_path):
    cls, config = HF_MODELS[name]
    torch.manual_seed(0)
    source = tmp_path / "source"
    original = cls(config).eval()
    with torch.no_grad():  # transformers' init (std 0.02) makes attention near uniform, which
        for param in original.parameters():  # would hide a q/k mix-up; these weights do not
            param.normal_(0.0, 0.3)
    original.save_pretrained(source)
    out = export_to_transformers(str(source), tmp_path / "exported")
    back = AutoModel.from_pretrained(out, local_files_only=True).eval()
    assert type(back) is cls
    wave = one_second()
    with torch.no_grad():
        expected = original(wave, output_hidden_states=True)
        got = back(wave, output_hidden_states=True)
    assert len(got.hidden_states) == config.num_hidden_layers + 1
    for ours, theirs in zip(got.hidden_states, expected.hidden_states):
        assert max_diff(ours, theirs) < ATOL
    assert max_diff(got.last_hidden_state, expected.last_hidden_state) < ATOL


def assert_one_error(capsys, argv: list, message: str) -> None:
    """The CLI exits 1 and prints exactly one line: ERROR: ... message ..."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("ERROR: ") and err.count("\n") == 1, err
    assert message in err, err


def test_bad_input_gives_one_clear_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "out")]
    missing = tmp_path / "missing.pth"
    assert_one_error(capsys, [str(missing), *out], f"{missing}: upstream checkpoint not found")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model\n")
    assert_one_error(capsys, [str(notes), *out], f"{notes}: not a readable checkpoint")
    torch.save({"model": 1}, tmp_path / "other.pth")
    assert_one_error(capsys, [str(tmp_path / "other.pth"), *out], "other.pth: neither an exported upstream")
    assert_one_error(capsys, [str(TINY_UPSTREAM), *out, "--arch", "wavlm"], "not a WavLM upstream")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("x")
    assert_one_error(capsys, [str(TINY_UPSTREAM), "--out", str(tmp_path / "taken")], "taken: already exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other.pth", "taken"]


def test_export_refuses_a_mapping_that_changes_the_outputs(tmp_path, monkeypatch):
    mapped = hf_export.transformers_state

    def q_k_swapped(*args, **kwargs):
        state = mapped(*args, **kwargs)
        q, k = "encoder.layers.0.attention.q_proj.weight", "encoder.layers.0.attention.k_proj.weight"
        state[q], state[k] = state[k], state[q]
        return state

    monkeypatch.setattr(hf_export, "transformers_state", q_k_swapped)
    with pytest.raises(DataError, match="hidden state 1 differs by .* nothing written"):
        export_to_transformers(str(TINY_UPSTREAM), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(model, directory):
        Path(directory).mkdir()
        (Path(directory) / "config.json").write_text("{")
        raise KeyboardInterrupt

    monkeypatch.setattr(hf_export, "_save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        export_to_transformers(str(TINY_UPSTREAM), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_hub_repository_dry_run_and_upload(tmp_path, capsys, monkeypatch):
    # The card loads the model from the hub id; the directory is listed (dry run) or handed to
    # the recipes' upload (stage 15's), which is the only code that touches the network.
    out = tmp_path / "hub"
    assert main([str(TINY_UPSTREAM), "--out", str(out), "--hf_repo", "org/tiny-hubert"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith(f"Dry run: the repository org/tiny-hubert would hold {out}:")
    assert "  config.json  (" in listing and "  README.md  (" in listing
    card = (out / "README.md").read_text()
    assert 'AutoModel.from_pretrained("org/tiny-hubert")' in card
    assert "`frontend_conf: {weights: hf:org/tiny-hubert}`" in card
    uploaded = []
    monkeypatch.setattr("espnet2_ext.recipe.upload.upload", lambda tree, repo: uploaded.append((tree, repo)) or "url")
    assert main([str(TINY_UPSTREAM), "--out", str(tmp_path / "up"), "--hf_repo", "org/x", "--upload"]) == 0
    assert uploaded == [(tmp_path / "up", "org/x")]
    capsys.readouterr()
    assert_one_error(capsys, [str(TINY_UPSTREAM), "--out", str(tmp_path / "o"), "--upload"], "--upload needs --hf_repo")
