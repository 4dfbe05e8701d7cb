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


# Context-aware fine-tuning and context injection (espnet2_ext.context) are compared with the
# recipe's standard fine-tuning default: a context config may differ from it only in what the
# method needs (same upstream weights, head, warm-up, optimiser, budget and seed).
CONTEXT_CONFIGS = sorted((RECIPE.parents[1]).glob("*/asr1/conf/tuning/train_*_ctx*.yaml"))
CONTEXT_CHANGES = {
    "ctxaware_neighbours": ["model", "model_conf.context_*", "model_conf.fusion*"],
    "ctxaware_batch": ["model", "model_conf.context_*", "model_conf.fusion*",
                       "batch_type", "recording_chunk_size", "valid_batch_type", "batch_bins"],
    "ctxinject": ["frontend", "frontend_conf.context_offsets", "batch_bins"],
}
# Audio encoded per segment with neighbours [-1, 1]: (3N - 2) / N over a corpus' recordings of
# N segments (mini_slue: 5-15, fsdd_digits: 8-12 per recording).
INJECTED_AUDIO_RATIO = {"mini_slue": 2.8, "fsdd_digits": 2.8}


def flat(conf, prefix=""):
    if not isinstance(conf, dict):
        return {prefix[:-1]: conf}
    return {k: v for key, value in conf.items() for k, v in flat(value, f"{prefix}{key}.").items()}


def test_every_recipe_has_the_three_context_systems():
    names = {(p.parts[-5], p.name) for p in CONTEXT_CONFIGS}
    for recipe in ("mini_slue", "fsdd_digits"):
        for system in ("ctxaware_neighbours", "ctxaware_batch", "ctxinject"):
            assert (recipe, f"train_asr_{system}_ctc.yaml") in names
    for system in ("ctxaware_neighbours", "ctxaware_batch", "ctxinject"):
        assert ("mini_slue", f"train_sentiment_{system}_meanpool.yaml") in names
    assert not [n for _, n in names if "tiny_random" in n]


@pytest.mark.parametrize("config", CONTEXT_CONFIGS, ids=lambda p: f"{p.parts[-5]}/{p.name}")
def test_context_configs_differ_from_the_default_only_in_the_method(config):
    import fnmatch

    recipe = config.parents[2]
    default = recipe / "conf" / ("train_sentiment.yaml" if "sentiment" in config.name else "train_asr.yaml")
    base, conf = flat(yaml.safe_load(default.read_text())), flat(yaml.safe_load(config.read_text()))
    changed = {k for k in set(base) | set(conf) if base.get(k, object()) != conf.get(k, object())}
    system = next(s for s in CONTEXT_CHANGES if f"_{s}_" in config.name)
    assert {k for k in changed if not any(fnmatch.fnmatch(k, p) for p in CONTEXT_CHANGES[system])} == set()
    if system == "ctxinject":  # the same segments per batch: 2 channels of [prev; segment; next]
        ratio = INJECTED_AUDIO_RATIO[config.parts[-5]]
        assert conf["batch_bins"] == round(base["batch_bins"] * 2 * ratio)
        assert conf["frontend"] == "ssl_upstream_inject"
    else:
        assert conf["model"] == "ctx_aware" and conf.get("model_conf.context_input", "upstream") == "upstream"
    if system == "ctxaware_batch" and "batch_bins" in changed:  # as many updates per epoch as numel's
        assert conf["batch_bins"] > base["batch_bins"] and "recording_batch_bins" in config.read_text()
    assert default.resolve().name in config.read_text()  # the header names its baseline


# A fast-inference strategy config is its ASR default plus the strategy's own keys only.
FASTINF_CONFIGS = sorted((RECIPE.parents[1]).glob("*/asr1/conf/tuning/train_asr_fastinf_*.yaml"))
FASTINF_CHANGES = {
    "downsample": ["frontend_conf.downsample*", "postencoder", "postencoder_conf.*"],
    "layers": ["frontend_conf.keep_layers"],
    # each exit reads its own layer: no weighted sum, and the exit heads replace the linear head
    "early_exit": ["model", "model_conf.exit_*", "encoder_conf.*", "frontend_conf.weighted_sum"],
}


@pytest.mark.parametrize("config", FASTINF_CONFIGS, ids=lambda p: f"{p.parts[-5]}/{p.name}")
def test_fastinf_configs_differ_from_the_default_only_in_the_strategy(config):
    import fnmatch

    default = config.parents[2] / "conf" / "train_asr.yaml"
    base, conf = flat(yaml.safe_load(default.read_text())), flat(yaml.safe_load(config.read_text()))
    changed = {k for k in set(base) | set(conf) if base.get(k, object()) != conf.get(k, object())}
    strategy = config.stem.split("_fastinf_")[1].removesuffix("_ctc")
    kind = "layers" if strategy.startswith("layers") else \
        "early_exit" if strategy == "early_exit" else "downsample"
    assert changed and {k for k in changed
                        if not any(fnmatch.fnmatch(k, p) for p in FASTINF_CHANGES[kind])} == set()
    if kind == "downsample":
        assert conf["frontend_conf.downsample"] + str(conf["frontend_conf.downsample_factor"]) == strategy
    elif kind == "layers":
        assert f"layers{conf['frontend_conf.keep_layers']}" == strategy
