"""Export a project upstream as a transformers model directory (the reverse of loading one).

    python -m espnet2_ext.upstream.hf_export egs2/mini_slue/ssl1/pretrained/upstream.pth --out exp/hf_upstream
    python -m espnet2_ext.upstream.hf_export <upstream> --out <dir> [--arch hubert|wav2vec2|wavlm]
        [--license ID] [--hf_repo org/name [--upload]]

``<upstream>`` is anything ``frontend_conf.weights`` accepts except ``random`` (an exported
``.pth``, an ESPnet ``hubert_train`` checkpoint, a transformers directory, ``hf:<id>``). The
directory is transformers' ``save_pretrained`` layout (``config.json`` + ``model.safetensors``) of
a ``HubertModel``, ``Wav2Vec2Model`` or ``WavLMModel``, with a ``README.md`` model card.

The weights map by name, the inverse of torchaudio's ``import_huggingface_model`` (which the
project's loader uses), so loading the directory back gives the same torchaudio model. Before the
directory appears, the export runs both models on one second of noise and compares every hidden
state; it is written to a temporary directory beside ``--out`` and renamed into place, so an
interrupted export leaves no half-written directory.

With ``--hf_repo`` the card names the hub repository, and the directory is listed as a dry run or,
with ``--upload``, uploaded the way the fine-tuning recipes' stage 15 uploads a model
(:func:`espnet2_ext.recipe.upload.publish`).
"""

import argparse
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torchaudio.models import Wav2Vec2Model
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention

from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.recipe.upload import HUB_ID, check_hub_options, publish
from espnet2_ext.upstream.checkpoints import load_upstream, upstream_config
from espnet2_ext.upstream.layers import iter_layer_outputs

# --arch value -> transformers class name (its config class has the same prefix).
KINDS = {"hubert": "HubertModel", "wav2vec2": "Wav2Vec2Model", "wavlm": "WavLMModel"}
# Max abs difference of any hidden state, relative to max(1, the largest value), that the
# export's own check accepts: the weights are copied exactly, so only float32 rounding of two
# attention implementations differs.
TOLERANCE = 1e-4
# torch's two weight-norm spellings of the positional convolution: parametrizations
# (torch >= 2.1, used by torchaudio 2.11 and recent transformers) and the legacy hook.
WEIGHT_NORM_NAMES = {
    "parametrizations.weight.original0": "weight_g",
    "parametrizations.weight.original1": "weight_v",
}


def export_to_transformers(
    upstream: str, out: Path, arch: Optional[str] = None, license_id: Optional[str] = None,
    hf_repo: Optional[str] = None,
) -> Path:
    """Write ``upstream`` to the new directory ``out`` as a transformers model; returns ``out``.
    The card loads it from ``hf_repo`` if given, else from ``out``."""
    out = Path(out)
    _check_out(out)
    model = _load(upstream).eval()
    config = upstream_config(upstream)
    kind = choose_kind(model, upstream, arch)
    hf_model = to_transformers(model, config, kind)
    max_diff = check_hidden_states(model, hf_model)
    card = model_card(upstream, hf_repo or str(out), kind, config, max_diff, license_id)
    _write_directory(hf_model, card, out)
    return out


def choose_kind(model: Wav2Vec2Model, upstream: str, arch: Optional[str] = None) -> str:
    """The transformers kind to export as: WavLM by structure (relative attention bias), else
    ``arch``, else the kind a transformers source was, else HuBERT (the project's own
    upstreams and ESPnet's ``hubert_train`` are HuBERTs; wav2vec 2.0 has the same structure)."""
    is_wavlm = _is_wavlm(model)
    if arch is not None and arch not in KINDS:
        raise DataError(f"{upstream}: unknown --arch '{arch}' (choose from {sorted(KINDS)})")
    if is_wavlm and arch not in (None, "wavlm"):
        raise DataError(f"{upstream}: a WavLM upstream (relative attention bias) exports only as wavlm")
    if not is_wavlm and arch == "wavlm":
        raise DataError(f"{upstream}: not a WavLM upstream (no relative attention bias); use hubert or wav2vec2")
    if is_wavlm:
        return "wavlm"
    return arch or _source_kind(upstream) or "hubert"


def _is_wavlm(model: Wav2Vec2Model) -> bool:
    return isinstance(model.encoder.transformer.layers[0].attention, WavLMSelfAttention)


def _source_kind(upstream: str) -> Optional[str]:
    """``hubert``/``wav2vec2`` if ``upstream`` is a local transformers directory of that type."""
    path = Path(upstream)
    config = path if path.name == "config.json" else path / "config.json"
    if not config.is_file():
        return None
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    return model_type if model_type in KINDS else None


def _load(upstream: str) -> Wav2Vec2Model:
    if upstream == "random":
        raise DataError("random: a randomly initialised upstream has no weights to export")
    return load_upstream(upstream)


def transformers_config(config: Mapping[str, Any], kind: str) -> Any:
    """The transformers config of a ``wav2vec2_model``/``wavlm_model`` config (the inverse of
    torchaudio's ``_get_config``/``_get_config_wavlm``)."""
    import transformers

    conv = [tuple(c) for c in config["extractor_conv_layer_config"]]
    values: Dict[str, Any] = dict(
        architectures=[KINDS[kind]],
        feat_extract_norm=config["extractor_mode"].removesuffix("_norm"),
        conv_dim=[c[0] for c in conv],
        conv_kernel=[c[1] for c in conv],
        conv_stride=[c[2] for c in conv],
        conv_bias=config["extractor_conv_bias"],
        hidden_size=config["encoder_embed_dim"],
        num_hidden_layers=config["encoder_num_layers"],
        num_attention_heads=config["encoder_num_heads"],
        intermediate_size=config["encoder_ff_interm_features"],
        num_conv_pos_embeddings=config["encoder_pos_conv_kernel"],
        num_conv_pos_embedding_groups=config["encoder_pos_conv_groups"],
        do_stable_layer_norm=config["encoder_layer_norm_first"],
        feat_proj_dropout=config["encoder_projection_dropout"],
        attention_dropout=config["encoder_attention_dropout"],
        activation_dropout=config["encoder_ff_interm_dropout"],
        hidden_dropout=config["encoder_dropout"],
        layerdrop=config["encoder_layer_drop"],
        # No source has a mask embedding (masked_spec_embed), so masking is off and every
        # exported tensor comes from the source; fine-tuning with SpecAugment sets these.
        mask_time_prob=0.0,
        mask_feature_prob=0.0,
    )
    if kind == "hubert":
        values["feat_proj_layer_norm"] = True  # torchaudio's feature projection always has it
    if kind == "wavlm":
        values["num_buckets"] = config["encoder_num_buckets"]
        values["max_bucket_distance"] = config["encoder_max_distance"]
    return getattr(transformers, KINDS[kind].replace("Model", "Config"))(**values)


def transformers_state(
    state: Mapping[str, torch.Tensor], num_layers: int, wavlm: bool
) -> Dict[str, torch.Tensor]:
    """A torchaudio upstream's state dict under transformers' names (weight norm as torchaudio
    spells it; ``to_transformers`` matches it to the target's spelling)."""
    prefixes = (
        ("feature_extractor.", "feature_extractor."),
        ("encoder.feature_projection.", "feature_projection."),
        ("encoder.transformer.", "encoder."),
    )
    mapped: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = next((hf + key[len(ta):] for ta, hf in prefixes if key.startswith(ta)), None)
        if new is None:
            raise DataError(f"cannot map the upstream weight '{key}' to transformers (e.g. a CTC head)")
        mapped[new] = value
    if wavlm:
        for index in range(num_layers):
            _split_wavlm_attention(mapped, f"encoder.layers.{index}.attention.")
    return mapped


def _split_wavlm_attention(state: Dict[str, torch.Tensor], prefix: str) -> None:
    """Undo torchaudio's ``transform_wavlm_encoder_state``: its ``nn.MultiheadAttention`` holds
    q, k and v stacked in one in-projection; transformers' WavLM has three linear layers."""
    for name in ("weight", "bias"):
        q, k, v = state.pop(f"{prefix}attention.in_proj_{name}").chunk(3, dim=0)
        for projection, value in zip(("q_proj", "k_proj", "v_proj"), (q, k, v)):
            state[f"{prefix}{projection}.{name}"] = value
        state[f"{prefix}out_proj.{name}"] = state.pop(f"{prefix}attention.out_proj.{name}")


def _match_weight_norm(state: Dict[str, torch.Tensor], target_keys: Sequence[str]) -> Dict[str, torch.Tensor]:
    """Rename the positional convolution's weight norm to the spelling the target model uses
    (it depends on the torch/transformers versions, on either side)."""
    targets = set(target_keys)
    renamed = {}
    for key, value in state.items():
        for new_style, old_style in WEIGHT_NORM_NAMES.items():
            if key.endswith(new_style) and key not in targets:
                key = key[: -len(new_style)] + old_style
            elif key.endswith(old_style) and key not in targets:
                key = key[: -len(old_style)] + new_style
        renamed[key] = value
    return renamed


def to_transformers(model: Wav2Vec2Model, config: Mapping[str, Any], kind: str) -> torch.nn.Module:
    """A transformers ``kind`` model (eval mode) with the weights of the torchaudio ``model``."""
    import transformers

    hf_config = transformers_config(config, kind)
    hf_model = getattr(transformers, KINDS[kind])(hf_config)
    state = transformers_state(model.state_dict(), hf_config.num_hidden_layers, kind == "wavlm")
    state = _match_weight_norm(state, list(hf_model.state_dict()))
    missing, unexpected = _key_mismatch(hf_model.state_dict(), state)
    if missing or unexpected:
        raise DataError(
            f"cannot map this upstream to {KINDS[kind]}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    hf_model.load_state_dict(state, strict=True)
    return hf_model.eval()


def _key_mismatch(
    target: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
) -> Tuple[List[str], List[str]]:
    """(missing or misshapen, unexpected) keys of ``state`` for a model with state ``target``."""
    shapes = [k for k in state if k in target and target[k].shape != state[k].shape]
    return sorted(set(target) - set(state)) + shapes, sorted(set(state) - set(target))


@torch.no_grad()
def hidden_state_pairs(
    model: Wav2Vec2Model, hf_model: torch.nn.Module, wave: torch.Tensor
) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """(torchaudio, transformers) pairs of the hidden states for a (1, samples) ``wave`` (both
    models in eval mode): the transformer's input, each layer's output below the top, and the
    top one as ``last_hidden_state``. (For pre-LN models transformers 5 leaves the final
    LayerNorm out of ``hidden_states[-1]``, transformers 4 put it in, so that one is compared
    where every version agrees.)"""
    out = hf_model(wave, output_hidden_states=True)
    feats, lengths = model.feature_extractor(wave, torch.tensor([wave.size(1)]))
    encoder = model.encoder
    first = encoder.transformer._preprocess(encoder.feature_projection(feats))
    ours = [first, *iter_layer_outputs(model, feats, lengths)]
    if len(ours) != len(out.hidden_states):
        raise DataError(f"{len(out.hidden_states)} transformers hidden states for {len(ours)} upstream ones")
    return list(zip(ours[:-1], out.hidden_states[:-1])) + [(ours[-1], out.last_hidden_state)]


def check_hidden_states(model: Wav2Vec2Model, hf_model: torch.nn.Module, seconds: float = 1.0) -> float:
    """Max abs difference of all hidden states on ``seconds`` of noise; refuses an export
    whose outputs differ (a mapping that loaded but computes something else)."""
    generator = torch.Generator().manual_seed(0)
    wave = torch.randn(1, int(16000 * seconds), generator=generator)
    worst = 0.0
    for index, (ours, theirs) in enumerate(hidden_state_pairs(model, hf_model, wave)):
        diff = (ours - theirs).abs().max().item()
        if diff > TOLERANCE * max(1.0, ours.abs().max().item()):
            raise DataError(f"hidden state {index} differs by {diff:.3g} after conversion; nothing written")
        worst = max(worst, diff)
    return worst


def model_card(
    upstream: str,
    location: str,
    kind: str,
    config: Mapping[str, Any],
    max_diff: float,
    license_id: Optional[str] = None,
) -> str:
    """``README.md``: what the model is, where it came from, its shape, and how to load it from
    ``location`` (a directory, or a hub id that the frontend names as ``hf:<id>``)."""
    on_hub = not Path(location).exists() and HUB_ID.fullmatch(location) is not None
    offline = "" if on_hub else ", local_files_only=True"
    weights = f"hf:{location}" if on_hub else location
    # The hub's metadata block; a license id only where the user gave one.
    license_meta = f"license: {license_id}\n" if license_id else ""
    tags = "tags:\n- audio\n- speech\n- self-supervised-learning\n"
    table = "\n".join(f"| {name} | {value} |" for name, value in _architecture_rows(kind, config))
    license_line = f"License: {license_id}." if license_id else "License: see the training data (the source states none)."
    return (
        f"---\nlibrary_name: transformers\n{license_meta}{tags}---\n\n"
        f"# {KINDS[kind]} exported from `{upstream}`\n\n"
        f"A self-supervised speech encoder (no task head), exported by `espnet2_ext.upstream.hf_export` "
        f"from `{upstream}`. It takes 16 kHz mono waveforms; no feature-extractor config is written.\n\n"
        f"| | |\n|---|---|\n{table}\n\n"
        f"At export, every hidden state of this model and of the source upstream (1 s of noise, eval "
        f"mode) differed by at most {max_diff:.2g}. Time and feature masking are off "
        f"(`mask_time_prob: 0`): the source has no mask embedding.\n\n"
        f"{_provenance(upstream)}"
        f"## Loading\n\n```python\nfrom transformers import AutoModel\n"
        f"model = AutoModel.from_pretrained(\"{location}\"{offline})\n```\n\n"
        f"In an espnet2_ext config: `frontend: ssl_upstream` with `frontend_conf: {{weights: {weights}}}`.\n\n"
        f"{license_line}\n"
    )


def _architecture_rows(kind: str, config: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    conv = [tuple(c) for c in config["extractor_conv_layer_config"]]
    sizes = ("encoder_num_layers", "encoder_embed_dim", "encoder_num_heads", "encoder_ff_interm_features")
    rows = [
        ("transformers class", KINDS[kind]),
        ("CNN layers (channels, kernel, stride)", f"{len(conv)}: {', '.join(map(str, conv))}"),
        ("CNN normalisation, bias", f"{config['extractor_mode']}, {config['extractor_conv_bias']}"),
        ("transformer layers / width / heads / feed-forward", " / ".join(str(config[k]) for k in sizes)),
        ("pre-LN (do_stable_layer_norm)", config["encoder_layer_norm_first"]),
        ("positional convolution kernel / groups",
         f"{config['encoder_pos_conv_kernel']} / {config['encoder_pos_conv_groups']}"),
    ]
    if kind == "wavlm":
        rows.append(("relative position buckets / max distance",
                     f"{config['encoder_num_buckets']} / {config['encoder_max_distance']}"))
    return rows


def _provenance(upstream: str) -> str:
    """The ``summary.md`` beside a source file (or inside a source directory), if any."""
    path = Path(upstream)
    summary = (path if path.is_dir() else path.parent) / "summary.md"
    if not summary.is_file():
        return ""
    text = summary.read_text(encoding="utf-8").strip().replace("\n# ", "\n### ")
    text = "### " + text[2:] if text.startswith("# ") else text  # keep the card's own headings on top
    return f"## Training (`{summary}`)\n\n{text}\n\n"


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: already exists; remove it or choose another --out")


def _write_directory(hf_model: torch.nn.Module, card: str, out: Path) -> None:
    """Save into a temporary directory beside ``out`` and rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        _save(hf_model, tmp)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        if out.is_dir():
            out.rmdir()  # empty (checked): os.replace cannot replace a directory
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _save(hf_model: Any, directory: Path) -> None:
    # transformers writes model.safetensors by default (since 4.35; transformers 5 requires
    # the package); pytorch_model.bin only where safetensors is not installed.
    if importlib.util.find_spec("safetensors") is None:
        hf_model.save_pretrained(directory, safe_serialization=False)
    else:
        hf_model.save_pretrained(directory)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upstream", help="what frontend_conf.weights would name (not random)")
    parser.add_argument("--out", type=Path, required=True, help="new directory (must not exist, or be empty)")
    parser.add_argument("--arch", choices=sorted(KINDS), help="transformers kind (default: wavlm for a WavLM, "
                        "else the source's transformers type, else hubert)")
    parser.add_argument("--license", dest="license_id",
                        help="license id for the model card, if known (default: 'see the training data')")
    parser.add_argument("--hf_repo", help="hub id org/name: the card loads the model from there; "
                        "the directory is listed (dry run) or uploaded (--upload)")
    parser.add_argument("--upload", action="store_true", help="upload the directory to --hf_repo")
    args = parser.parse_args(argv)
    check_hub_options(args.hf_repo, args.upload)
    out = export_to_transformers(args.upstream, args.out, args.arch, args.license_id, args.hf_repo)
    if args.hf_repo is None:
        print(out)
    else:
        publish(out, args.hf_repo, args.upload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
