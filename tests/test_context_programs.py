"""The context systems through ESPnet's own programs: training (with ``--batch_type recording``)
from the files of the context plugin (recipe.data_inputs), then the stock decoding programs with ``speech`` only."""

import logging
from pathlib import Path
from typing import List

import numpy as np
import pytest
import soundfile
import torch
import yaml
from context_tiny import ASR_TOKENS, CLS_TOKENS, config
from helpers import tiny_sentence_encoder, write_lines

from espnet2_ext.bin import asr_inference, cls_inference
from espnet2_ext.recipe import data_inputs
from espnet2_ext.tasks import ASRTask, CLSTask

UTTS = [f"{rec}{i}" for rec in "ab" for i in range(4)]  # two recordings of four segments


def make_data(root: Path) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for k, utt in enumerate(UTTS):
        soundfile.write(data / f"{utt}.flac", 0.1 * rng.randn(4000 + 800 * (k % 3)), 16000, subtype="PCM_16")
    write_lines(data / "wav.scp", [f"{u} {data / u}.flac" for u in UTTS])
    write_lines(data / "utt2rec", [f"{u} {u[0]} {u[1]}" for u in UTTS])
    write_lines(data / "text", [f"{u} a b" for u in UTTS])
    write_lines(data / "label", [f"{u} {['negative', 'positive'][k % 2]}" for k, u in enumerate(UTTS)])
    return data


def context_inputs(conf: Path, data: Path, option: str, capsys, training: bool) -> List[str]:
    flags = ["--training"] if training else []
    argv = ["--config", str(conf), "--data_dir", str(data), "--option", option, "--write", *flags]
    assert data_inputs.main(argv) == 0
    return capsys.readouterr().out.split()


def shape_files(inputs: List[str], data: Path, target: str, vocab: int) -> List[str]:
    """speech_shape (from the speech scp: 'L' or 'L,2') and the target's shape, as stage 10 writes them."""
    speech_scp = inputs[0].split("=", 1)[1].split(",")[0]
    speech = [f"{u} {','.join(map(str, soundfile.read(p)[0].shape))}"
              for u, p in (line.split() for line in Path(speech_scp).read_text().splitlines())]
    tokens = 1 if target == "label" else 3
    write_lines(data / "speech_shape", speech)
    write_lines(data / "target_shape", [f"{u} {tokens},{vocab}" for u in UTTS])
    return [str(data / "speech_shape"), str(data / "target_shape")]


def train(tmp: Path, task, conf: dict, capsys, extra: List[str]) -> Path:
    """One epoch of ESPnet's training program on the tiny corpus (train = valid set)."""
    data = make_data(tmp)
    (tmp / "conf.yaml").write_text(yaml.safe_dump(conf))
    target, tokens = ("text", ASR_TOKENS) if task is ASRTask else ("label", CLS_TOKENS)
    (tmp / "tokens.txt").write_text(tokens)
    train_inputs = context_inputs(tmp / "conf.yaml", data, "train_data_path_and_name_and_type", capsys, True)
    valid_inputs = context_inputs(tmp / "conf.yaml", data, "valid_data_path_and_name_and_type", capsys, False)
    shapes = shape_files(train_inputs, data, target, len(tokens.split()))
    token_type = "char" if task is ASRTask else "word"
    task.main(cmd=[
        "--config", str(tmp / "conf.yaml"), "--output_dir", str(tmp / "exp"), "--use_preprocessor", "true",
        "--token_type", token_type, "--token_list", str(tmp / "tokens.txt"), *train_inputs, *valid_inputs,
        "--train_data_path_and_name_and_type", f"{data / target},{target},text",
        "--valid_data_path_and_name_and_type", f"{data / target},{target},text",
        *[f"--train_shape_file={s}" for s in shapes], *[f"--valid_shape_file={s}" for s in shapes],
        "--max_epoch", "1", "--num_workers", "0", "--num_att_plot", "0", "--optim", "adam",
        "--use_tensorboard", "false", *extra,
    ])
    return tmp / "exp"


def assert_context_loss_in_training_only(exp: Path) -> None:
    stats = torch.load(exp / "checkpoint.pth", weights_only=False)["reporter"]["stats"][1]
    assert "loss_ctx" in stats["train"] and "loss_ctx" not in stats["valid"]


def decode_inputs(exp: Path, capsys) -> List[str]:
    """The test-set options of stage 12 (speech only; injected audio for injection)."""
    return context_inputs(exp / "config.yaml", exp.parent / "data", "data_path_and_name_and_type", capsys, False)


def test_mode_b_trains_on_recording_batches_and_decodes_single_segments(tmp_path, capsys, caplog):
    conf = config("asr", model="ctx_aware", model_conf={"context_source": "batch", "context_dim": 16},
                  batch_type="recording", batch_bins=40000, valid_batch_type="numel", recording_chunk_size=2)
    with caplog.at_level(logging.INFO):
        exp = train(tmp_path, ASRTask, conf, capsys, [])
    assert "[train] Batch sampler: RecordingBatchSampler(N-batch=" in caplog.text  # as ESPnet logs its own
    assert_context_loss_in_training_only(exp)
    inputs = decode_inputs(exp, capsys)
    assert inputs == [f"--data_path_and_name_and_type={tmp_path / 'data' / 'wav.scp'},speech,sound"]
    asr_inference.main([*inputs, "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file",
                        str(exp / "1epoch.pth"), "--output_dir", str(tmp_path / "out"), "--ctc_greedy", "true"])
    assert len((tmp_path / "out" / "1best_recog" / "text").read_text().splitlines()) == len(UTTS)


def test_mode_a_classifier_trains_with_neighbour_inputs_and_classifies_single_segments(tmp_path, capsys):
    conf = config("cls", model="ctx_aware", model_conf={"context_source": "neighbours", "context_dim": 16},
                  batch_type="numel", batch_bins=40000)
    exp = train(tmp_path, CLSTask, conf, capsys, [])
    assert_context_loss_in_training_only(exp)
    inputs = decode_inputs(exp, capsys)
    assert len(inputs) == 1 and inputs[0].endswith("/data/wav.scp,speech,sound")
    cls_inference.main([*inputs, "--classification_train_config", str(exp / "config.yaml"),
                        "--classification_model_file", str(exp / "1epoch.pth"), "--output_dir", str(tmp_path / "out")])
    predictions = (tmp_path / "out" / "prediction" / "text").read_text().split()
    assert len(predictions) == 2 * len(UTTS) and set(predictions[1::2]) <= {"negative", "neutral", "positive"}


def test_injection_trains_and_decodes_injected_audio_with_segment_timing(tmp_path, capsys):
    conf = config("asr", frontend="ssl_upstream_inject", batch_type="numel", batch_bins=80000)
    exp = train(tmp_path, ASRTask, conf, capsys, [])
    (inputs,) = decode_inputs(exp, capsys)
    assert "/context/inject_m1_p1/wav.scp,speech,sound" in inputs
    asr_inference.main([inputs, "--asr_train_config", str(exp / "config.yaml"), "--asr_model_file",
                        str(exp / "1epoch.pth"), "--output_dir", str(tmp_path / "out"), "--ctc_greedy", "true"])
    assert len((tmp_path / "out" / "1best_recog" / "text").read_text().splitlines()) == len(UTTS)
    timing = yaml.safe_load((tmp_path / "out" / "timing.json").read_text())
    segments = sum(soundfile.info(str(tmp_path / "data" / f"{u}.flac")).frames for u in UTTS)
    assert timing["audio_seconds"] == pytest.approx(segments / 16000)  # the segments, not their context


def test_generative_context_trains_towards_text_targets_and_classifies_single_segments(tmp_path, capsys):
    encoder = tiny_sentence_encoder(tmp_path / "encoder", ["a", "b"])
    conf = config("cls", model="ctx_aware", batch_type="numel", batch_bins=40000, model_conf={
        "context_source": "text", "context_dim": 16, "context_text_dim": 8, "context_text_encoder": encoder})
    exp = train(tmp_path, CLSTask, conf, capsys, [])
    assert_context_loss_in_training_only(exp)
    assert len(list((tmp_path / "data" / "context").glob("text_m1_p1_*/ctx_text"))) == 1
    inputs = decode_inputs(exp, capsys)
    assert len(inputs) == 1 and inputs[0].endswith("/data/wav.scp,speech,sound")  # no text at inference
    cls_inference.main([*inputs, "--classification_train_config", str(exp / "config.yaml"),
                        "--classification_model_file", str(exp / "1epoch.pth"), "--output_dir", str(tmp_path / "out")])
    assert len((tmp_path / "out" / "prediction" / "text").read_text().split()) == 2 * len(UTTS)
