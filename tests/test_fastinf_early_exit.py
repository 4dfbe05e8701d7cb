"""``model: early_exit`` (espnet2_ext.fastinf.early_exit): exit criteria, training loss, layer-by-layer
decoding that stops at the exit, and the decoding program's ``exit_layer`` file."""

import math
from pathlib import Path
from typing import Iterator, List

import espnet2.tasks.asr as asr_task
import numpy as np
import pytest
import soundfile
import torch
from context_tiny import TINY_FRONTEND, build, save_exp_dir
from helpers import write_lines

from espnet2_ext.bin import asr_inference
from espnet2_ext.errors import DataError
from espnet2_ext.fastinf.early_exit import EarlyExitASRModel, mean_cosine, mean_entropy, mean_exit_layer

NUM_LAYERS = 4
FOUR_LAYERS = {**TINY_FRONTEND, "arch_conf": {**TINY_FRONTEND["arch_conf"], "encoder_num_layers": NUM_LAYERS}}
LENGTHS = torch.tensor([8000, 4800])
TEXT = dict(text=torch.tensor([[2, 3], [3, -1]]), text_lengths=torch.tensor([2, 1]))


def early_exit(tmp: Path, **model_conf) -> EarlyExitASRModel:
    """A 4-layer tiny early-exit model (no dropout) built by ESPnet's ASR task."""
    return build(tmp, "asr", frontend_conf=FOUR_LAYERS, model="early_exit",
                 model_conf={"exit_layers": [2, 4], **model_conf})


def speech(lengths: torch.Tensor = LENGTHS) -> dict:
    torch.manual_seed(1)
    wave = torch.randn(len(lengths), int(lengths.max())) * (torch.arange(int(lengths.max())) < lengths[:, None])
    return {"speech": wave, "speech_lengths": lengths}


def fix_ctc_posteriors(model: EarlyExitASRModel, logits: List[float]) -> None:
    """Make every frame's CTC logits ``logits``, whatever the exit head gives."""
    with torch.no_grad():
        model.ctc.ctc_lo.weight.zero_()
        model.ctc.ctc_lo.bias.copy_(torch.tensor(logits))


def count_layer_calls(model: EarlyExitASRModel) -> List[int]:
    calls = [0] * NUM_LAYERS
    for index, layer in enumerate(model.frontend.upstream.encoder.transformer.layers):
        layer.register_forward_hook(lambda *_, i=index: calls.__setitem__(i, calls[i] + 1))
    return calls


def entropy(p: List[float]) -> float:
    return -sum(x * math.log(x) for x in p)


def test_mean_entropy_over_valid_frames_only():
    confident, uniform = [0.7, 0.1, 0.1, 0.1], [0.25] * 4
    frames = torch.tensor([[confident, uniform, uniform], [confident, uniform, uniform]])
    lengths = torch.tensor([2, 1])  # valid: (0, 0), (0, 1), (1, 0)
    expected = (2 * entropy(confident) + math.log(4)) / 3
    assert mean_entropy(frames.log(), lengths).item() == pytest.approx(expected, rel=1e-6)
    assert mean_entropy(frames.log(), torch.tensor([1, 1])).item() == pytest.approx(entropy(confident), rel=1e-6)


def test_mean_cosine_over_valid_frames_only():
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    previous = torch.tensor([[[3.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]])  # cosines 1, 1/sqrt(2), -1
    assert mean_cosine(hidden, previous, torch.tensor([2])).item() == pytest.approx((1 + 0.5 ** 0.5) / 2)
    assert mean_cosine(hidden, previous, torch.tensor([3])).item() == pytest.approx(0.5 ** 0.5 / 3)


@pytest.mark.parametrize("logits,threshold,exit_layer", [
    ([8.0, 0, 0, 0, 0], 0.10, 2),  # entropy 0.01 < 0.10: the first exit
    ([0.0] * 5, 0.10, 4),  # uniform: ln 5 = 1.61 >= 0.10 at every exit, so the last
    ([0.0] * 5, 1.7, 2),  # ln 5 < 1.7
])
def test_entropy_exit_stops_at_the_first_confident_exit_and_skips_the_layers_above(
        tmp_path, logits, threshold, exit_layer):
    model = early_exit(tmp_path, exit_criterion="entropy", exit_threshold=threshold).eval()
    fix_ctc_posteriors(model, logits)
    calls = count_layer_calls(model)
    with torch.no_grad():
        out, lengths = model.encode(**speech())
        assert calls == [1] * exit_layer + [0] * (NUM_LAYERS - exit_layer)  # the layers above never ran
        expected = model.exit_outputs(**speech())[0][exit_layer - 2]
    assert model.last_exit_layer == exit_layer
    torch.testing.assert_close(out, expected)
    assert lengths.tolist() == [24, 14]


def test_none_always_uses_the_last_exit(tmp_path):
    model = early_exit(tmp_path, exit_criterion="none").eval()
    fix_ctc_posteriors(model, [8.0, 0, 0, 0, 0])  # would exit at layer 2 with entropy
    with torch.no_grad():
        out, _ = model.encode(**speech())
        expected = model.exit_outputs(**speech())[0][-1]
    assert model.last_exit_layer == 4
    torch.testing.assert_close(out, expected)


def hand_made_layers(monkeypatch, model: EarlyExitASRModel, states: List[torch.Tensor], asked: List[int]) -> None:
    """Replace the upstream by layers whose (1, 3, 32) outputs are ``states``; count those asked for."""
    def layers() -> Iterator[torch.Tensor]:
        for state in states:
            asked.append(1)
            yield state
    # The third frame is padding.
    monkeypatch.setattr(model.frontend, "iter_layers", lambda speech, lengths: (layers(), torch.tensor([2])))


@pytest.mark.parametrize("third_layer,exit_layer", [
    ("same_valid_frames", 3),  # cosine with layer 2 is 1 on the valid frames
    ("orthogonal", 4),
])
def test_similarity_exit_compares_consecutive_layers_on_valid_frames(tmp_path, monkeypatch, third_layer, exit_layer):
    model = early_exit(tmp_path, exit_criterion="similarity", exit_threshold=0.95).eval()
    torch.manual_seed(0)
    layer2 = torch.randn(1, 3, 32)
    orthogonal = torch.cat([layer2[:, :, 16:], -layer2[:, :, :16]], dim=2)  # cosine 0 with layer2, per frame
    # Cosine 1 on the two valid frames, -1 on the padded one (a mean of 1/3 if it counted).
    same_valid_frames = torch.cat([2 * layer2[:, :2], -layer2[:, 2:]], dim=1)
    layer3 = {"same_valid_frames": same_valid_frames, "orthogonal": orthogonal}[third_layer]
    # Layer 2, the first exit, is orthogonal to layer 1, so it does not exit.
    states = [orthogonal, layer2, layer3, torch.randn(1, 3, 32)]
    asked: List[int] = []
    hand_made_layers(monkeypatch, model, states, asked)
    with torch.no_grad():
        out, _ = model.encode(torch.zeros(1, 1), torch.tensor([1]))
        expected = model.exit_heads[exit_layer - 2](states[exit_layer - 1])
    assert model.last_exit_layer == exit_layer and len(asked) == exit_layer
    torch.testing.assert_close(out, expected)


def test_training_loss_is_the_sum_of_the_exits_ctc_losses(tmp_path):
    model = early_exit(tmp_path).train()
    loss, stats, weight = model(**speech(), **{k: v.clone() for k, v in TEXT.items()})
    assert set(stats) >= {"loss_ctc_l2", "loss_ctc_l3", "loss_ctc_l4", "cer_ctc", "loss"} and weight == 2
    expected = []
    with torch.no_grad():
        for layer in (2, 3, 4):  # each exit alone: the frontend's own output of that layer
            model.frontend.num_layers_run = layer
            hidden, lengths = model.frontend(speech()["speech"], LENGTHS)
            head_out = model.exit_heads[layer - 2](hidden)
            expected.append(model.ctc(head_out, lengths, TEXT["text"], TEXT["text_lengths"]).item())
            assert stats[f"loss_ctc_l{layer}"].item() == pytest.approx(expected[-1], rel=1e-5)
    assert loss.item() == pytest.approx(sum(expected), rel=1e-5)
    loss.backward()
    assert all(head[0].weight.grad.abs().sum() > 0 for head in model.exit_heads)
    assert model.frontend.upstream.encoder.transformer.layers[0].attention.k_proj.weight.grad is not None


def test_validation_reports_each_exit_and_the_last_exits_cer(tmp_path):
    model = early_exit(tmp_path).eval()
    with torch.no_grad():
        _, stats, _ = model(**speech(), **{k: v.clone() for k, v in TEXT.items()})
    assert stats["cer_ctc"] == stats["cer_ctc_l4"] and stats["cer_ctc_l2"] is not None


@pytest.mark.parametrize("overrides,message", [
    ({"model_conf": {"exit_layers": [3, 5]}}, r"1 <= first <= last <= 4"),
    ({"model_conf": {"exit_criterion": "margin"}}, "exit_criterion must be one of"),
    ({"frontend_conf": {"weighted_sum": True}}, "remove weighted_sum and layer"),
    ({"frontend_conf": {"layer": 2}}, "remove weighted_sum and layer"),
    ({"encoder_conf": {"normalize_before": True}}, "pass-through encoder"),
    ({"normalize": "utterance_mvn"}, "does not support normalize"),
])
def test_configurations_it_cannot_run_are_refused(tmp_path, overrides, message):
    model_conf = {"exit_layers": [2, 4], **overrides.pop("model_conf", {})}
    frontend_conf = {**FOUR_LAYERS, **overrides.pop("frontend_conf", {})}
    with pytest.raises(ValueError, match=message):
        build(tmp_path, "asr", model="early_exit", model_conf=model_conf, frontend_conf=frontend_conf, **overrides)


def test_default_exits_are_the_upper_half_and_the_model_is_registered(tmp_path):
    model = build(tmp_path, "asr", frontend_conf=FOUR_LAYERS, model="early_exit")
    assert list(model.exit_layers) == [3, 4] and len(model.exit_heads) == 2
    assert (model.exit_criterion, model.exit_threshold) == ("entropy", 0.10)
    assert asr_task.model_choices.get_class("early_exit") is EarlyExitASRModel


def test_mean_exit_layer(tmp_path):
    assert mean_exit_layer(write_lines(tmp_path / "exit_layer", ["a 3", "b 4", "c 4"])) == pytest.approx(11 / 3)
    with pytest.raises(DataError, match="'b': the exit layer must be a number"):
        mean_exit_layer(write_lines(tmp_path / "bad", ["a 3", "b x"]))


def test_exits_are_paired_with_the_decoded_keys_in_order(tmp_path):
    write_lines(tmp_path / "token", ["u2 a b", "u1 ", "u3 b"])
    asr_inference.write_exits(tmp_path, [(3, "entropy 0.1"), (2, "entropy 0.1"), (4, "entropy 0.1")])
    assert (tmp_path / "exit_layer").read_text() == "u1 2\nu2 3\nu3 4\n"
    assert (tmp_path / "exit_rule").read_text() == "u1 entropy 0.1\nu2 entropy 0.1\nu3 entropy 0.1\n"
    with pytest.raises(RuntimeError, match="2 exit layers for 3 decoded utterances"):
        asr_inference.write_exits(tmp_path, [(3, "none"), (2, "none")])


def test_the_exit_rule_can_be_changed_for_decoding(tmp_path):
    model = early_exit(tmp_path)
    model.set_exit_rule("similarity")
    assert (model.exit_criterion, model.exit_threshold, model.exit_rule) == ("similarity", 0.95, "similarity 0.95")
    model.set_exit_rule("none")
    assert model.exit_rule == "none"
    with pytest.raises(ValueError, match="exit_criterion must be one of"):
        model.set_exit_rule("margin")

    class NotEarlyExit:
        def __init__(self):
            self.asr_model = torch.nn.Linear(2, 2)

    assert asr_inference.with_exit_rule(NotEarlyExit, None, None) is NotEarlyExit  # as trained
    with pytest.raises(ValueError, match="apply to early-exit models .* this model is Linear"):
        asr_inference.with_exit_rule(NotEarlyExit, None, 0.5)()


@pytest.mark.parametrize("options,layer,rule", [
    ([], 2, "entropy 0.1"),  # as trained: confident, so every utterance exits at layer 2
    (["--exit_threshold", "0"], 4, "entropy 0"),  # no entropy is below 0: the last exit
    (["--exit_criterion", "none"], 4, "none"),
])
def test_decoding_program_writes_the_exit_of_each_utterance(tmp_path, options, layer, rule):
    model = early_exit(tmp_path / "exp")
    fix_ctc_posteriors(model, [0.0, 0, 8.0, 0, 0])  # confident: mean entropy about 0.007 nats
    save_exp_dir(tmp_path / "exp", model)
    rng = np.random.RandomState(0)
    utts = ["u1", "u2", "u3"]
    for k, utt in enumerate(utts):
        soundfile.write(tmp_path / f"{utt}.wav", 0.1 * rng.randn(4000 + 800 * k), 16000)
    write_lines(tmp_path / "wav.scp", [f"{u} {tmp_path / u}.wav" for u in utts])
    asr_inference.main([f"--data_path_and_name_and_type={tmp_path / 'wav.scp'},speech,sound",
                        "--asr_train_config", str(tmp_path / "exp" / "config.yaml"), "--asr_model_file",
                        str(tmp_path / "exp" / "model.pth"), "--output_dir", str(tmp_path / "out"),
                        "--ctc_greedy", "true", *options])
    result = tmp_path / "out" / "1best_recog"
    assert (result / "exit_layer").read_text() == "".join(f"{u} {layer}\n" for u in utts)
    assert (result / "exit_rule").read_text() == "".join(f"{u} {rule}\n" for u in utts)
    assert (result / "text").read_text() == "u1 a\nu2 a\nu3 a\n"  # token 2 on every frame
    assert mean_exit_layer(result / "exit_layer") == layer
