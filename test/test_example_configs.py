"""The documented example configs build real models (checkpoint paths swapped for tiny ones)."""

from pathlib import Path

import pytest
import torch
import yaml
from transformers import HubertConfig, HubertModel

from espnet2_ext.tasks import ASRTask, CLSTask

RECIPE = Path(__file__).resolve().parents[1] / "egs2" / "mini_slue" / "asr1"


def test_hf_directory_config_builds_and_runs(tmp_path):
    hidden = 32
    config = HubertConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, conv_dim=(16,) * 7, num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2)
    HubertModel(config).save_pretrained(tmp_path / "hubert")
    conf = yaml.safe_load((RECIPE / "conf/tuning/train_asr_hf_hubert_base_ctc.yaml").read_text())
    conf["frontend_conf"]["weights"] = str(tmp_path / "hubert")
    conf["encoder_conf"]["output_size"] = hidden
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(conf))
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    args = ASRTask.get_parser().parse_args(
        ["--config", str(tmp_path / "conf.yaml"), "--token_list", str(tmp_path / "tokens.txt"),
         "--output_dir", str(tmp_path / "exp")]
    )
    model = ASRTask.build_model(args)
    assert model.frontend.upstream.encoder.transformer.layer_drop == 0.1
    loss, _, _ = model(speech=torch.randn(2, 8000), speech_lengths=torch.tensor([8000, 6000]),
                       text=torch.tensor([[2, 3], [3, -1]]), text_lengths=torch.tensor([2, 1]))
    assert torch.isfinite(loss)


RECIPE_CONFIGS = sorted(
    p for p in (RECIPE.parents[1]).glob("*/asr1/conf/tuning/train_*.yaml")
    if "_hf_" not in p.name  # needs a transformers directory: tested above
)


@pytest.mark.parametrize("config", RECIPE_CONFIGS, ids=lambda p: f"{p.parts[-5]}/{p.name}")
def test_recipe_configs_build_a_model(config, tmp_path, monkeypatch):
    """Every shipped tuning config builds, from its recipe dir, with the files it names."""
    monkeypatch.chdir(config.parents[2])  # checkpoint paths are relative to the recipe dir
    task = CLSTask if "sentiment" in config.name else ASRTask
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("neutral\npositive\nnegative\n" if task is CLSTask
                      else "<blank>\n<unk>\na\nb\n<sos/eos>\n")
    args = task.get_parser().parse_args(
        ["--config", str(config), "--token_list", str(tokens), "--output_dir", str(tmp_path / "exp")]
    )
    model = task.build_model(args)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0
