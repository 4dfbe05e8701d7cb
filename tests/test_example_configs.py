"""The recipes' configs, and the command of every system in their RESULTS.md, build real models.

Each recipe's ``local/RESULTS.head.md`` (the head of its RESULTS.md; ``RESULTS.<root>.head.md``
for another experiment root's report) names every system with the command that trains it: a
config, maybe ESPnet overrides (``--train_args``) and a ``--tag``.
Those commands are the one list of systems: the tests read them (and the commands that config
comments and ``run.sh`` comments show), resolve each one's options as training does
(``espnet2_ext.bin.effective_config``), and check that it names its experiment, builds, and differs
from the recipe's default only in what its method changes.
"""

import argparse
import fnmatch
import functools
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pytest
import torch
import yaml
from transformers import HubertConfig, HubertModel

from espnet2_ext.bin.effective_config import effective_config
from espnet2_ext.tasks import TASKS, ASRTask

EGS = Path(__file__).resolve().parents[1] / "egs2"
RECIPE = EGS / "mini_slue" / "asr1"
# run.sh's targets: ESPnet task and default training config (run.sh passes --train_config).
TARGETS = {
    "mini_slue": {"asr": ("asr", "conf/train_asr.yaml"), "ner": ("asr", "conf/train_ner.yaml"),
                  "sentiment": ("cls", "conf/train_sentiment.yaml"), "phn": ("asr", "conf/train_asr.yaml")},
    "fsdd_digits": {"asr": ("asr", "conf/train_asr.yaml")},
}
TOKENS = {"asr": "<blank>\n<unk>\na\nb\n<sos/eos>\n", "cls": "neutral\npositive\nnegative\n"}


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


def build(task: str, argv: List[str], tmp_path: Path):
    """The model that training builds for ``argv`` (run from the recipe dir: its paths are relative)."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKENS[task])
    args = argparse.Namespace(**effective_config(
        task, [*argv, "--token_list", str(tokens), "--output_dir", str(tmp_path / "exp")]))
    if args.normalize == "global_mvn":  # the feature statistics that stage 10 writes, stage 11 passes
        dim = args.frontend_conf["n_mels"]
        stats = tmp_path / "feats_stats.npz"
        np.savez(stats, count=np.array(10.0), sum=np.zeros(dim), sum_square=np.full(dim, 10.0))
        args.normalize_conf = {**args.normalize_conf, "stats_file": str(stats)}
    model = TASKS[task].build_model(args)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0
    return model


RECIPE_CONFIGS = sorted(
    p for p in EGS.glob("*/asr1/conf/tuning/train_*.yaml")
    if "_hf_" not in p.name  # needs a transformers directory: tested above
)


@pytest.mark.parametrize("config", RECIPE_CONFIGS, ids=lambda p: f"{p.parts[-5]}/{p.name}")
def test_recipe_configs_build_a_model(config, tmp_path, monkeypatch):
    """Every shipped tuning config builds as it is, from its recipe dir, with the files it names."""
    monkeypatch.chdir(config.parents[2])
    build("cls" if "sentiment" in config.name else "asr", ["--config", str(config)], tmp_path)


def test_one_config_per_fast_inference_strategy_kind():
    """A downsampler's factor and layer removal's layer count are overrides, not config copies."""
    for recipe in TARGETS:
        names = {p.name for p in (EGS / recipe / "asr1/conf/tuning").glob("train_asr_fastinf_*.yaml")}
        assert names == {f"train_asr_fastinf_{kind}_ctc.yaml" for kind in ("sd", "cl", "av", "layers", "early_exit")}


# ------------------------------------------------------------------ the systems' commands


@dataclass(frozen=True)
class Command:
    """One documented `./run.sh ...` command of a recipe."""
    recipe: str
    source: str                # where it is written (file, and the table row's experiments)
    names: Tuple[str, ...]     # experiments its table row names (none outside RESULTS.head.md)
    target: str
    task: str
    config: str                # relative to the recipe dir
    train_args: Tuple[str, ...]  # --train_args, as ssl_ft.sh splits it (bash word splitting)
    seed: Optional[str]        # --seed: part of the experiment's name unless --tag names it
    experiment: str            # <root>/<experiment> is its exp dir, as ssl_ft.sh names it
    root: str = "exp"          # --expdir (e.g. exp_topic0.7, a variant of the corpus)

    @property
    def argv(self) -> List[str]:
        """The training options that the config and the overrides give (the seed aside)."""
        return ["--config", str(EGS / self.recipe / "asr1" / self.config), *self.train_args]


def expand(name: str) -> List[str]:
    """`a_{b,c}_d[_e]` -> a_b_d, a_c_d (an optional [...] part dropped)."""
    name = re.sub(r"\[[^]]*\]", "", name)
    parts = re.split(r"\{([^}]*)\}", name)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def parse(recipe: str, source: str, text: str, names: Tuple[str, ...] = ()) -> Command:
    """ssl_ft.sh's reading of `./run.sh [--targets T] --name value...` (run.sh passes the rest on)."""
    words = shlex.split(text)
    assert words[0] == "./run.sh", text
    opts: Dict[str, str] = {}
    for name, value in zip(words[1::2], words[2::2]):
        assert name.startswith("--") and "=" not in name, f"{source}: cannot read {text!r}"
        opts[name[2:]] = value
    assert len(words) % 2 == 1, f"{source}: option without a value in {text!r}"
    if recipe == "mini_slue":  # run.sh reads --targets, as its first option; its default is all three
        assert words[1] == "--targets" and " " not in opts["targets"], f"{source}: name one target: {text!r}"
    target = opts.pop("targets", "asr")
    task, default = TARGETS[recipe][target]
    config = opts.get("train_config", default)
    seed = opts.get("seed")
    tag = opts.get("tag") or f"{target}_{Path(config).stem}" + (f"_seed{seed}" if seed else "")
    train_args = tuple(opts.get("train_args", "").split())
    return Command(recipe, source, names, target, task, config, train_args, seed, f"{task}_{tag}",
                   opts.get("expdir", "exp"))


def results_head_commands(recipe: str) -> List[Command]:
    """The commands in the tables of RESULTS.head.md and of the heads of other experiment roots'
    reports (RESULTS.<root>.head.md)."""
    return [c for path in sorted((EGS / recipe / "asr1/local").glob("RESULTS*.head.md"))
            for c in head_commands(recipe, path)]


def head_commands(recipe: str, path: Path) -> List[Command]:
    commands = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        names = tuple(n for s in re.findall(r"`([^`]+)`", cells[0]) for n in expand(s) if "<" not in n)
        for text in re.findall(r"`(\./run\.sh [^`]+)`", cells[-1]):
            commands.append(parse(recipe, f"{path.relative_to(EGS)} ({cells[0]})", text, names))
    return commands


def commented_commands(recipe: str) -> List[Command]:
    """`./run.sh ...` in the comments of run.sh and of the tuning configs (lines joined at `\\`)."""
    commands = []
    files = [EGS / recipe / "asr1/run.sh", *sorted((EGS / recipe / "asr1/conf/tuning").glob("*.yaml"))]
    for path in files:
        lines = [l.lstrip("#").strip() for l in path.read_text().splitlines() if l.startswith("#")]
        for n, line in enumerate(lines):
            if not line.startswith("./run.sh "):
                continue
            text = line
            while text.endswith("\\"):
                n += 1
                text = text[:-1].rstrip() + " " + lines[n]
            if "_hf_" not in text:  # a checkpoint directory the test cannot have: tested above
                commands.append(parse(recipe, str(path.relative_to(EGS)), text))
    return commands


COMMANDS = [c for recipe in TARGETS for c in results_head_commands(recipe) + commented_commands(recipe)]
# Each distinct command once (the same system may be written in more than one place).
SYSTEMS = sorted({(c.recipe, c.root, c.experiment, c.target, c.config, c.train_args): c
                  for c in COMMANDS}.values(), key=lambda c: (c.recipe, c.root, c.experiment, c.source))


def test_run_sh_passes_the_default_configs():
    for recipe, targets in TARGETS.items():
        run_sh = (EGS / recipe / "asr1/run.sh").read_text()
        for task, config in targets.values():
            assert f"--train_config {config}" in run_sh and f"--task {task}" in run_sh


def test_the_commands_were_read():
    assert len([c for c in COMMANDS if c.names]) >= 30  # the RESULTS.head.md tables were read
    for recipe in TARGETS:
        experiments = {c.experiment for c in COMMANDS if c.recipe == recipe}
        for kind in ("sd", "cl", "av"):
            assert {f"asr_asr_train_asr_fastinf_{kind}{k}_ctc" for k in (2, 3, 4)} <= experiments
        assert {"asr_asr_train_asr_fastinf_layers2_ctc", "asr_asr_train_asr_fastinf_layers3_ctc"} <= experiments


@pytest.mark.parametrize("command", COMMANDS,
                         ids=lambda c: f"{c.recipe}/{c.root}/{c.experiment}@{Path(c.source.split()[0]).name}")
def test_command_names_its_experiment_and_config(command):
    """The config exists, the row names the experiment the command makes, and every command written
    for that experiment anywhere (RESULTS.head.md, config and run.sh comments) trains the same."""
    assert (EGS / command.recipe / "asr1" / command.config).is_file(), f"{command.source}: no {command.config}"
    if command.names:
        assert command.experiment in command.names, f"{command.source}: the command makes {command.experiment}"
    same = {(c.target, c.config, c.train_args) for c in COMMANDS
            if (c.recipe, c.root, c.experiment) == (command.recipe, command.root, command.experiment)}
    assert len(same) == 1, f"{command.recipe}/{command.experiment} has different commands: {same}"


def test_config_comments_name_systems_of_that_config():
    """A `--tag T` in a config's comment (e.g. its list of factors) is a system trained from it."""
    for recipe in TARGETS:
        for path in (EGS / recipe / "asr1/conf/tuning").glob("*.yaml"):
            comment = "\n".join(l for l in path.read_text().splitlines() if l.startswith("#"))
            for tag in re.findall(r"--tag (\S+)", comment):
                assert [c for c in SYSTEMS if (c.recipe, c.experiment) == (recipe, f"{c.task}_{tag}")
                        and Path(c.config).name == path.name], f"{path.relative_to(EGS)}: --tag {tag}"


def without_option(args: Tuple[str, ...], option: str, value_prefix: str) -> Tuple[str, ...]:
    """``args`` without the pairs ``option value`` whose value starts with ``value_prefix``."""
    pairs = list(zip(args[::2], args[1::2]))
    return tuple(w for o, v in pairs if not (o == option and v.startswith(value_prefix)) for w in (o, v))


@functools.lru_cache(maxsize=None)
def resolved(task: str, argv: Tuple[str, ...]) -> Dict[str, object]:
    return flat(effective_config(task, list(argv)))


def flat(conf, prefix=""):
    if not isinstance(conf, dict):
        return {prefix[:-1]: conf}
    return {k: v for key, value in conf.items() for k, v in flat(value, f"{prefix}{key}.").items()}


# What a system may change against its reference, by method: the first rule whose pattern the
# experiment's name (without its "<task>_<target>_" head and "_seed<N>" tail) matches. The reference
# is the target's default config, or for a random upstream the pretrained system's config. A system
# that no rule matches fails: give its method a rule.
CONTEXT_CHANGES = {
    "ctxaware_neighbours": ["model", "model_conf.context_*", "model_conf.fusion*", "frontend_conf.padding_aware_cnn"],
    "ctxaware_batch": ["model", "model_conf.context_*", "model_conf.fusion*", "frontend_conf.padding_aware_cnn",
                       "batch_type", "recording_chunk_size", "valid_batch_type", "batch_bins"],
    "ctxaware_text": ["model", "model_conf.context_*", "model_conf.fusion*"],
    "ctxinject": ["frontend", "frontend_conf.context_offsets", "batch_bins"],
}
DOWNSAMPLE_CHANGES = ["frontend_conf.downsample", "frontend_conf.downsample_factor", "postencoder",
                      "postencoder_conf.*"]
METHODS = {  # method: (pattern, what it may change)
    "default": (r"^train_(asr|ner|sentiment)$", []),
    # the default with another epoch budget, named by it (e.g. train_sentiment_ep8)
    "budget": (r"^train_(asr|ner|sentiment)_ep\d+$", ["max_epoch"]),
    # the schedule sweep at the demo's budget (mini_slue RESULTS.md, "The demo's schedule")
    "schedule": (r"^train_asr_(lr\d|wu\d)", ["optim_conf.lr", "scheduler_conf.warmup_steps", "batch_bins",
                                               "frontend_conf.freeze_steps"]),
    # a random-initialised upstream of the same architecture (baseline of pretraining)
    "random_upstream": (r"_ssl_tiny_random_", ["frontend_conf.weights", "frontend_conf.arch"]),
    # the default upstream after SCORE tuning (egs2/mini_slue/score1's output)
    "score_upstream": (r"_ssl_tiny_score_", ["frontend_conf.weights"]),
    # the default upstream after rewiring (egs2/mini_slue/rewire1's output)
    "rewire_upstream": (r"_ssl_tiny_rewire_", ["frontend_conf.weights"]),
    # fine-tuning / frozen probe of the default upstream: what trains, and the head (mini_slue's
    # default has a conformer head with SpecAugment, the linear heads their own schedule and budget,
    # as they were measured; a classifier also its pooling)
    "pretrained_upstream": (r"_ssl_tiny_pretrained_", ["frontend_conf.freeze_*", "frontend_conf.weighted_sum",
                                                       "encoder", "encoder_conf.*", "specaug", "specaug_conf.*",
                                                       "decoder_conf.pooling",
                                                       "optim_conf.lr", "scheduler_conf.*",
                                                       "max_epoch", "patience", "keep_nbest_models"]),
    # downsampling with the upstream's CNN trained too (named ..._ctc_cnn)
    "downsample_cnn": (r"_fastinf_(sd|cl|av)\d_ctc_cnn", [*DOWNSAMPLE_CHANGES, "frontend_conf.freeze_cnn"]),
    "downsample": (r"_fastinf_(sd|cl|av)\d", DOWNSAMPLE_CHANGES),
    "layers": (r"_fastinf_layers\d", ["frontend_conf.keep_layers"]),
    # each exit reads its own layer: no weighted sum, and the exit heads replace the linear head (and
    # may warm up on a frozen upstream first)
    "early_exit": (r"_fastinf_early_exit_", ["model", "model_conf.exit_*", "encoder", "encoder_conf.*",
                                             "frontend_conf.weighted_sum", "frontend_conf.freeze_steps",
                                             "specaug", "specaug_conf.*"]),
    **{system: (f"_{system}_", changes) for system, changes in CONTEXT_CHANGES.items()},
    # the baseline without an SSL upstream: ESPnet's filterbank frontend and a conformer from scratch
    "fbank_baseline": (r"_fbank_", ["frontend", "frontend_conf.*", "specaug", "specaug_conf.*", "normalize",
                                    "normalize_conf.*", "encoder", "encoder_conf.*", "optim", "optim_conf.*",
                                    "scheduler_conf.*", "max_epoch", "patience", "keep_nbest_models",
                                    "model_conf.extract_feats_in_collect_stats"]),
}
MAY_EQUAL_THE_DEFAULT = ("default", "pretrained_upstream")  # fsdd_digits' default is its pretrained_ctc
# Downsampling factors from which a recipe's systems add CTC upsampling x2, because training
# transcripts would be longer than their CTC frames allow (python -m espnet2_ext.fastinf.feasibility):
# mini_slue 53 (x3) and 699 (x4) of 786; every fsdd_digits transcript fits up to x4.
CTC_UPSAMPLING_FROM = {"mini_slue": 3, "fsdd_digits": None}


@pytest.mark.parametrize("system", SYSTEMS, ids=lambda c: f"{c.recipe}/{c.root}/{c.experiment}")
def test_system_differs_from_its_reference_only_in_its_method(system, monkeypatch, tmp_path):
    """The options training resolves for the command, against its reference; then the model builds."""
    monkeypatch.chdir(EGS / system.recipe / "asr1")
    name = re.sub(r"_seed\d+$", "", system.experiment.removeprefix(f"{system.task}_{system.target}_"))
    method = next((m for m, (pattern, _) in METHODS.items() if re.search(pattern, name)), None)
    assert method, f"{system.recipe}/{system.experiment}: no METHODS rule says what its method changes"
    tuned = method in ("score_upstream", "rewire_upstream")  # another recipe's tuned upstream
    if method == "random_upstream" or tuned:  # the same system on the pretrained upstream
        kind = method.split("_")[0]
        reference = EGS / system.recipe / "asr1/conf/tuning" / (name.replace(f"_{kind}_", "_pretrained_") + ".yaml")
    else:
        reference = EGS / system.recipe / "asr1" / TARGETS[system.recipe][system.target][1]
    base_argv = ("--config", str(reference))
    if tuned:  # compared with the vanilla system's command: same budget
        base_argv += without_option(system.train_args, "--frontend_conf", "weights=")
    base = resolved(system.task, base_argv)
    conf = resolved(system.task, tuple(system.argv))
    changed = {k for k in set(base) | set(conf) if base.get(k, object()) != conf.get(k, object())}
    allowed = METHODS[method][1]
    if re.search(r"_ep\d+$", name):  # a method at another budget, named by it (e.g. ..._ep15)
        allowed = [*allowed, "max_epoch"]
    assert {k for k in changed if not any(fnmatch.fnmatch(k, p) for p in allowed)} == set()
    assert changed or method in MAY_EQUAL_THE_DEFAULT, f"{system.experiment} is {reference.name}: nothing changed"
    strategy = re.search(r"_fastinf_(\w+?)_ctc", name)
    if method.startswith("downsample"):  # the experiment's name is the downsampler and its factor
        assert conf["frontend_conf.freeze_cnn"] is (method == "downsample")
        factor = conf["frontend_conf.downsample_factor"]
        assert f"{conf['frontend_conf.downsample']}{factor}" == strategy[1]
        upsample_from = CTC_UPSAMPLING_FROM[system.recipe]
        if upsample_from is not None and factor >= upsample_from:
            assert (conf["postencoder"], conf.get("postencoder_conf.factor")) == ("ctc_upsample", 2)
        else:
            assert conf["postencoder"] is None
    elif method == "layers":
        assert f"layers{conf['frontend_conf.keep_layers']}" == strategy[1]
    elif method == "random_upstream":
        assert conf["frontend_conf.weights"] == "random"
    elif tuned:  # another recipe's output: the model is built in its own test
        kind = method.split("_")[0]
        tuned_at = r"(\.\./\.\./mini_slue/|\.\./)"  # mini_slue's own score1/rewire1, or from fsdd_digits
        assert re.fullmatch(rf"{tuned_at}{kind}1/exp/{kind}_train_{kind}\w*/upstream\.pth", conf["frontend_conf.weights"])
        return
    build(system.task, system.argv, tmp_path)


# Context-aware fine-tuning and context injection (espnet2_ext.context) are compared with the
# recipe's standard fine-tuning default: a context config may differ from it only in what the
# method needs (same upstream weights, head, warm-up, optimiser, budget and seed).
CONTEXT_CONFIGS = sorted(EGS.glob("*/asr1/conf/tuning/train_*_ctx*.yaml"))
# Audio encoded per segment with neighbours [-1, 1]: (3N - 2) / N over a corpus' recordings of
# N segments (mini_slue: 5-15, fsdd_digits: 8-12 per recording).
INJECTED_AUDIO_RATIO = {"mini_slue": 2.8, "fsdd_digits": 2.8}


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
        assert conf["batch_bins"] > base["batch_bins"] and "espnet2_ext.context.batch_bins" in config.read_text()
    assert default.resolve().name in config.read_text()  # the header names its baseline
