"""espnet2_ext.bin.asr_macs: MACs per audio second of a trained exp dir, as decoding runs the model."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from context_tiny import TINY_FRONTEND, build, save_exp_dir
from helpers import write_lines

from espnet2_ext.fastinf.macs import encoder_macs
from espnet2_ext.bin.asr_macs import main

LENGTHS = (8000, 9600, 11200)  # samples of the three test utterances
TWO_LAYERS = {**TINY_FRONTEND, "arch_conf": {**TINY_FRONTEND["arch_conf"], "encoder_num_layers": 2}}
FOUR_LAYERS = {**TINY_FRONTEND, "arch_conf": {**TINY_FRONTEND["arch_conf"], "encoder_num_layers": 4}}


def make_exp(exp: Path, **overrides) -> torch.nn.Module:
    """An exp dir as training leaves it: config.yaml (token list inline) and valid.loss.ave.pth."""
    model = build(exp, "asr", **overrides)
    save_exp_dir(exp, model, "valid.loss.ave.pth")
    return model


def make_data(data: Path) -> Path:
    data.mkdir(parents=True)
    rng = np.random.RandomState(0)
    lines = []
    for k, n in enumerate(LENGTHS):
        soundfile.write(data / f"u{k}.wav", 0.1 * rng.randn(n), 16000)
        lines.append(f"u{k} {data / f'u{k}.wav'}")
    write_lines(data / "wav.scp", lines)
    return data


def speech(scp: Path) -> list:
    """The inference program's data options for ``scp``, plus one the count ignores."""
    return ["--data_path_and_name_and_type", f"{scp},speech,sound",
            "--data_path_and_name_and_type", f"{scp.parent / 'text'},text,text"]


def run(tmp: Path, name: str, *options: str, **overrides) -> dict:
    exp = tmp / name
    if not exp.exists():
        make_exp(exp, **overrides)
    data = tmp / "data" if (tmp / "data").exists() else make_data(tmp / "data")
    assert main([str(exp), str(exp / "decode" / "test"), *speech(data / "wav.scp"), *options]) == 0
    return json.loads((exp / "decode" / "test" / "macs.json").read_text())


def test_baseline_counts_the_frontend_and_the_ctc_projection_by_hand(tmp_path):
    result = run(tmp_path, "base", frontend_conf=TWO_LAYERS)
    model = build(tmp_path / "copy", "asr", frontend_conf=TWO_LAYERS).eval()
    cnn = TINY_FRONTEND["arch_conf"]["extractor_conv_layer_config"]
    frames = []
    for n in LENGTHS:
        for _, kernel, stride in cnn:
            n = (n - kernel) // stride + 1
        frames.append(n)
    # The encoder is a pass-through (input_layer: null): encode() is the frontend.
    assert result["encode_macs"] == sum(encoder_macs(model.frontend, n) for n in LENGTHS)
    assert result["ctc_macs"] == sum(frames) * 32 * 5  # Linear(32, vocab 5) per frame
    assert result["macs"] == result["encode_macs"] + result["ctc_macs"]
    assert result["num_utts"] == 3 and result["audio_seconds"] == pytest.approx(sum(LENGTHS) / 16000)
    assert result["macs_per_audio_second"] == pytest.approx(result["macs"] / result["audio_seconds"])
    assert result["num_params"] == sum(p.numel() for p in model.parameters())
    assert result["num_params_frontend"] == sum(p.numel() for p in model.frontend.parameters())
    assert result["num_params_encoder"] == 0 and result["model_file"] == "valid.loss.ave.pth"
    assert "mean_exit_layer" not in result


def test_downsampling_and_layer_removal_cost_less(tmp_path):
    base = run(tmp_path, "base", frontend_conf=TWO_LAYERS)
    av2 = run(tmp_path, "av2", frontend_conf={**TWO_LAYERS, "downsample": "av", "downsample_factor": 2})
    av3 = run(tmp_path, "av3", frontend_conf={**TWO_LAYERS, "downsample": "av", "downsample_factor": 3})
    cl2 = run(tmp_path, "cl2", frontend_conf={**TWO_LAYERS, "downsample": "cl", "downsample_factor": 2})
    one = run(tmp_path, "one", frontend_conf={**TWO_LAYERS, "keep_layers": 1})
    ratio = av2["macs_per_audio_second"] / base["macs_per_audio_second"]
    assert 0.4 < ratio < 0.55  # half the samples and frames
    assert av3["macs_per_audio_second"] < av2["macs_per_audio_second"]
    conv = sum(((n - 161) // 2 + 1) * 161 for n in LENGTHS)  # cl's 161-tap convolution is counted
    assert cl2["macs"] > av2["macs"] + 0.9 * conv
    assert one["macs_per_audio_second"] < base["macs_per_audio_second"]
    assert one["num_params"] < base["num_params"] == av2["num_params"] == cl2["num_params"] - 162
    assert av2["audio_seconds"] == base["audio_seconds"]  # the input audio, not the downsampled


def test_num_utts_takes_the_first_utterances(tmp_path):
    first = run(tmp_path, "base", "--num_utts", "1", frontend_conf=TWO_LAYERS)
    assert first["num_utts"] == 1 and first["audio_seconds"] == pytest.approx(LENGTHS[0] / 16000)


def test_early_exit_counts_only_the_layers_run(tmp_path, capsys):
    early = make_exp(tmp_path / "early", frontend_conf=FOUR_LAYERS, model="early_exit",
                     model_conf={"exit_layers": [2, 4], "exit_criterion": "entropy"})
    with torch.no_grad():  # confident posteriors at every exit: all utterances exit at layer 2
        early.ctc.ctc_lo.weight.zero_()
        early.ctc.ctc_lo.bias.copy_(torch.tensor([0.0, 0, 8.0, 0, 0]))
    torch.save(early.state_dict(), tmp_path / "early" / "valid.loss.ave.pth")
    make_exp(tmp_path / "last", frontend_conf=FOUR_LAYERS, model="early_exit",
             model_conf={"exit_layers": [2, 4], "exit_criterion": "none"})
    exited = run(tmp_path, "early")
    full = run(tmp_path, "last")
    assert exited["mean_exit_layer"] == 2 and full["mean_exit_layer"] == 4
    assert exited["macs_per_audio_second"] < 0.9 * full["macs_per_audio_second"]  # 2 of 4 layers (the CNN dominates)
    assert exited["num_params"] == full["num_params"]
    # Decoded by another rule (a threshold sweep): counted by that rule, which decoding recorded.
    rule = write_lines(tmp_path / "early" / "decode" / "test" / "exit_rule", ["u0 entropy 0", "u1 entropy 0"])
    swept = run(tmp_path, "early")
    assert swept["mean_exit_layer"] == 4 and swept["macs"] > full["macs"]  # and the exits it tried below
    write_lines(rule, ["u0 entropy 0", "u1 entropy 0.5"])
    decode = tmp_path / "early" / "decode" / "test"
    assert main([str(tmp_path / "early"), str(decode), *speech(tmp_path / "data" / "wav.scp")]) == 1
    assert f"{rule}: not one exit rule: 'entropy 0 / entropy 0.5'" in capsys.readouterr().err


def test_missing_inputs_name_the_file(tmp_path, capsys):
    exp = tmp_path / "exp"
    make_exp(exp, frontend_conf=TWO_LAYERS)
    data = make_data(tmp_path / "data")
    decode = str(exp / "decode" / "test")
    assert main([str(exp), decode, *speech(data / "wav.scp"), "--model_file", "valid.acc.ave.pth"]) == 1
    assert f"{exp / 'valid.acc.ave.pth'}: missing" in capsys.readouterr().err
    (exp / "config.yaml").unlink()
    assert main([str(exp), decode, *speech(data / "wav.scp")]) == 1
    assert f"{exp / 'config.yaml'}: missing" in capsys.readouterr().err
    assert main([str(exp), decode, *speech(tmp_path / "nodata" / "wav.scp")]) == 1
    assert f"{tmp_path / 'nodata' / 'wav.scp'}: no such file" in capsys.readouterr().err
    assert main([str(exp), decode, *speech(data / "wav.scp")[2:]]) == 1
    assert "no speech input among" in capsys.readouterr().err
    assert main([str(tmp_path / "noexp"), decode, *speech(data / "wav.scp")]) == 1
    assert "noexp: not an experiment directory" in capsys.readouterr().err
    assert not (exp / "decode" / "test" / "macs.json").exists()


def test_context_models_as_decoding_feeds_them(tmp_path):
    """ctx_aware decodes the segment alone; injection reads a two-channel input (context audio,
    segment mask) from its own scp, and its audio is the segment's, as rtf.json counts it."""
    plain = run(tmp_path, "plain", frontend_conf=TWO_LAYERS)
    aware = run(tmp_path, "aware", frontend_conf=TWO_LAYERS, model="ctx_aware",
                model_conf={"ctc_weight": 1.0, "context_dim": 16})
    assert aware["audio_seconds"] == plain["audio_seconds"] and aware["macs"] > plain["macs"]
    exp = tmp_path / "inject"
    make_exp(exp, frontend_conf=TWO_LAYERS, frontend="ssl_upstream_inject")
    wave = 0.1 * np.random.RandomState(1).randn(3 * 6400)
    mask = np.zeros_like(wave)
    mask[6400:12800] = 1.0  # the middle 0.4 s is the segment
    soundfile.write(tmp_path / "inj.wav", np.stack([wave, mask], 1), 16000, subtype="FLOAT")
    scp = write_lines(tmp_path / "inject.scp", [f"u0 {tmp_path / 'inj.wav'}"])
    assert main([str(exp), str(exp / "decode"), *speech(scp)]) == 0
    injected = json.loads((exp / "decode" / "macs.json").read_text())
    assert injected["num_utts"] == 1 and injected["audio_seconds"] == pytest.approx(0.4)
    model = build(tmp_path / "copy", "asr", frontend_conf=TWO_LAYERS).eval()
    assert injected["encode_macs"] == encoder_macs(model.frontend, 3 * 6400)  # the upstream sees the context
