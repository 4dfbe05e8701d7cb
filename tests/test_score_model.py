"""SCORE's model, task and export: what trains, what stays fixed, the loss at identity, bad
settings, and an exported upstream that gives the student's features."""

import datetime
from pathlib import Path

import pytest
import torch
import yaml
from helpers import SMALL_UPSTREAM as SMALL, noise_batch as batch, small_frontend
from transformers import HubertConfig, HubertModel

from espnet2_ext.score.model import ScoreModel
from espnet2_ext.ssl import tuned_export as export
from espnet2_ext.tasks import ScoreTask
from espnet2_ext.upstream.checkpoints import export_upstream, upstream_config
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

RECIPE = Path(__file__).resolve().parents[1] / "egs2/mini_slue/score1"


def test_only_the_top_layers_and_the_projection_learn_and_the_teacher_stays():
    model = ScoreModel(small_frontend(), trainable_layers=2, projection_dim=16).train()
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    loss, stats, weight = model(*batch())
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    prefixes = {".".join(n.split(".")[:6]) if ".layers." in n else n.split(".")[0] for n in with_grad}
    assert prefixes == {"frontend.upstream.encoder.transformer.layers.1",
                        "frontend.upstream.encoder.transformer.layers.2", "projection"}
    assert not any(p.requires_grad for p in model.teacher.parameters())
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    assert all(torch.equal(v, model.teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert weight.item() == 3 and stats["loss"] == loss.detach()


def test_the_loss_is_zero_when_the_view_is_the_original_and_nothing_is_random():
    model = ScoreModel(small_frontend(), projection_dim=16, speeds=[1.0], semitones=[0]).eval()
    loss, _, _ = model(*batch())
    assert abs(loss.item()) < 1e-6  # same input, same weights: a divergence of 0


def test_a_perturbed_view_gives_a_positive_loss_that_is_the_same_on_the_same_seed():
    model = ScoreModel(small_frontend(), projection_dim=16).eval()
    losses = []
    for _ in range(2):
        torch.manual_seed(3)
        losses.append(model(*batch())[0].item())
    assert losses[0] > 1e-4 and losses[0] == losses[1]


def test_the_teacher_is_in_eval_mode_while_the_student_trains():
    model = ScoreModel(small_frontend()).train()
    assert model.frontend.upstream.training and not model.teacher.training


@pytest.mark.parametrize("kwargs, frontend_kwargs, message", [
    ({"trainable_layers": 4}, {}, "model_conf.trainable_layers=4 does not fit the upstream of "
                                  "frontend_conf.weights, which has 3 transformer layers"),
    ({"trainable_layers": 0}, {}, "model_conf.trainable_layers=0"),
    ({"projection": "conv"}, {}, "model_conf.projection must be one of"),
    ({}, {"weighted_sum": True}, "drop frontend_conf layer/weighted_sum"),
    ({}, {"layer": 1}, "drop frontend_conf layer/weighted_sum"),
    ({}, {"freeze_all": True}, "drop frontend_conf downsample/freeze_all/freeze_steps"),
])
def test_settings_that_do_not_fit_name_themselves(kwargs, frontend_kwargs, message):
    with pytest.raises(ValueError, match=message.replace("/", ".")):
        ScoreModel(small_frontend(**frontend_kwargs), **kwargs)


def test_audio_shorter_than_the_receptive_field_names_the_setting_to_change():
    model = ScoreModel(small_frontend(), speeds=[1.1]).train()
    with pytest.raises(ValueError, match=r"utterances of \[3\d\d\] samples leave no upstream frame.*min_wav_duration"):
        model(*batch((16000, 400)))  # 400 samples: one frame, none after speeding up by 1.1


def fake_run(exp, model, frontend_conf):
    """What a finished score_train run leaves: config.yaml, a model checkpoint, the reporter."""
    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump({"frontend": "ssl_upstream", "frontend_conf": frontend_conf}))
    torch.save(model.state_dict(), exp / "valid.loss.best.pth")
    epoch = {"train": {"total_count": 50, "time": datetime.timedelta(seconds=360)}, "valid": {"loss": 0.25}}
    torch.save({"reporter": {"stats": {1: epoch}, "epoch": 1}}, exp / "checkpoint.pth")


def trained(model):
    """The student after one update, so that its export differs from the starting upstream."""
    model.train()
    model(*batch())[0].backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=10.0).step()
    return model.eval()


def assert_export_gives_the_students_features(model, exp, tmp_path):
    out = tmp_path / "upstream.pth"
    assert export.main([str(exp), "--out", str(out)]) == 0
    exported = SSLUpstreamFrontend(weights=str(out)).eval()
    wave, lengths = batch()
    with torch.no_grad():
        assert torch.allclose(exported(wave, lengths)[0], model.frontend(wave, lengths)[0], atol=1e-5)
        teacher = SSLUpstreamFrontend(weights=model_weights(exp)).eval()
        assert not torch.allclose(exported(wave, lengths)[0], teacher(wave, lengths)[0], atol=1e-3)
    assert "1 epochs, 50 updates, 0.1 h" in (tmp_path / "summary.md").read_text()


def model_weights(exp):
    return yaml.safe_load((exp / "config.yaml").read_text())["frontend_conf"]["weights"]


def test_export_of_a_run_from_a_project_checkpoint_keeps_its_layer_drop(tmp_path):
    start = tmp_path / "start.pth"
    frontend = small_frontend()
    export_upstream(frontend.upstream, upstream_config("random", "tiny", SMALL), start, {"source": "test"})
    conf = {"weights": str(start), "arch_conf": {"encoder_layer_drop": 0.0}}
    model = trained(ScoreModel(SSLUpstreamFrontend(**conf), projection_dim=16))
    assert model.frontend.upstream.encoder.transformer.layer_drop == 0.0
    fake_run(tmp_path / "exp", model, conf)
    assert_export_gives_the_students_features(model, tmp_path / "exp", tmp_path)
    exported = SSLUpstreamFrontend(weights=str(tmp_path / "upstream.pth"))
    assert exported.upstream.encoder.transformer.layer_drop == 0.05  # the upstream's own, not the run's


def test_export_of_a_run_from_a_transformers_directory(tmp_path):
    conf = {"weights": str(tiny_hubert_dir(tmp_path / "hubert"))}
    model = trained(ScoreModel(SSLUpstreamFrontend(**conf), projection_dim=8))
    fake_run(tmp_path / "exp", model, conf)
    assert_export_gives_the_students_features(model, tmp_path / "exp", tmp_path)


def test_export_of_something_else_is_one_clear_line(tmp_path, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    torch.save({"encoder.weight": torch.zeros(1)}, exp / "valid.loss.best.pth")
    assert export.main([str(exp), "--out", str(tmp_path / "u.pth")]) == 1
    assert capsys.readouterr().err.strip() == \
        f"ERROR: {exp}/config.yaml: missing; is {exp} an upstream tuning experiment?"
    (exp / "config.yaml").write_text(yaml.safe_dump({"frontend_conf": {"weights": "random", "arch": "tiny"}}))
    assert export.main([str(exp), "--out", str(tmp_path / "u.pth")]) == 1
    assert "not a checkpoint of a model that tunes an ssl_upstream frontend (no 'frontend.upstream.*' weights)" in capsys.readouterr().err


def tiny_hubert_dir(path: Path) -> Path:
    torch.manual_seed(0)
    config = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                          conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    HubertModel(config).save_pretrained(path)
    return path


def test_the_task_builds_the_shipped_cpu_config(tmp_path, monkeypatch):
    monkeypatch.chdir(RECIPE)
    args = ScoreTask.get_parser().parse_args(["--config", "conf/train_score.yaml", "--output_dir", str(tmp_path)])
    model = ScoreTask.build_model(args)
    assert isinstance(model, ScoreModel) and model.projection.out_features == 128
    trainable = {n.split(".")[4] for n, p in model.frontend.named_parameters() if p.requires_grad and ".layers." in n}
    assert trainable == {"2", "3"}


def test_the_papers_gpu_config_parses_and_builds_on_a_transformers_directory(tmp_path, monkeypatch):
    """The HuBERT Base config, with a tiny HuBERT directory in place of hubert-base-ls960."""
    monkeypatch.chdir(RECIPE)
    args = ScoreTask.get_parser().parse_args([
        "--config", "conf/tuning/train_score_hubert_base.yaml", "--output_dir", str(tmp_path),
        "--frontend_conf", f"weights={tiny_hubert_dir(tmp_path / 'hubert')}"])
    assert (args.accum_grad, args.batch_size, args.optim_conf["lr"]) == (8, 1, 2.0e-05)
    assert args.scheduler_conf == {"warmup_steps_list": [0, 1000, 3600], "warmup_lr_list": [0.0, 2.0e-05, 0.0]}
    model = ScoreTask.build_model(args)
    assert model.projection.out_features == 256
    assert model.frontend.upstream.encoder.transformer.layer_drop == 0.0
