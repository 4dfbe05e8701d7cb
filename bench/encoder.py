"""Encoder benchmark: wall time and MACs of the frontend (downsampler + upstream) per strategy.

    python -m bench.encoder [--arches hubert_base wavlm_large default] [--repeats 5] [--warmup 1]
                            [--seconds 10] [--threads N] [--output bench/results/encoder.json]

For each architecture, on one utterance of ``--seconds`` (float32, inference mode, CPU), it runs
``none`` (the plain upstream), ``sd``/``cl``/``av`` at factors 2, 3 and 4, ``layers<N>`` (the first
N transformer layers kept, N = half and three quarters of them) and ``hf_reference``: transformers'
own HubertModel/WavLMModel on the same weights (ours are loaded from its save_pretrained
directory). ``hubert_base`` and ``wavlm_large`` have random weights; ``default`` is the project's
pretrained upstream, or a random ``tiny`` one while that file does not exist. Times are medians
over ``--repeats`` rounds; each round times every strategy of an architecture once, in rotated
order, so machine noise hits them alike. MACs come from torch's FlopCounterMode
(``espnet2_ext.fastinf.macs``). No training: CL runs its initial filter, which costs what a
trained one does. Speed-up and MAC reduction are relative to ``none`` of the same architecture.
"""

from espnet2_ext import offline  # noqa: F401  (before any espnet2 import)

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import transformers

from espnet2_ext.fastinf.macs import count_macs, encoder_macs
from espnet2_ext.upstream.architectures import ARCHITECTURES, build_architecture
from espnet2_ext.upstream.checkpoints import export_upstream
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_UPSTREAM = ROOT / "egs2" / "mini_slue" / "ssl1" / "pretrained" / "upstream.pth"
FS = 16000
# transformers configs of the named architectures (its defaults are HuBERT-Base's).
HF_MODELS: Dict[str, Tuple[type, transformers.PretrainedConfig]] = {
    "hubert_base": (transformers.HubertModel, transformers.HubertConfig()),
    "wavlm_large": (
        transformers.WavLMModel,
        transformers.WavLMConfig(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
            feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=False,
        ),
    ),
}


@dataclass
class Source:
    """Where an architecture's weights come from, and transformers' model on them if any."""

    weights: str
    description: str
    hf_model: Optional[torch.nn.Module] = None


@dataclass
class Strategy:
    arch: str
    name: str
    factor: int
    run: Callable[[], object]
    macs: int
    params: int
    layers: int
    times: List[float] = field(default_factory=list)


def source(arch: str, tmp: Path) -> Source:
    """Random weights saved where SSLUpstreamFrontend reads them (``weights:``)."""
    torch.manual_seed(0)
    if arch in HF_MODELS:
        cls, config = HF_MODELS[arch]
        model = cls(config).eval()
        model.save_pretrained(tmp / arch)
        return Source(str(tmp / arch), f"random {arch}, saved by transformers' {cls.__name__}", model)
    if DEFAULT_UPSTREAM.is_file():
        return Source(str(DEFAULT_UPSTREAM), str(DEFAULT_UPSTREAM.relative_to(ROOT)))
    export_upstream(build_architecture("tiny"), ARCHITECTURES["tiny"], tmp / "tiny.pth", {"bench": "random"})
    return Source(str(tmp / "tiny.pth"), f"random tiny: {DEFAULT_UPSTREAM.relative_to(ROOT)} does not exist")


def check_architecture(arch: str, frontend: SSLUpstreamFrontend) -> None:
    """The transformers model read back is our named architecture, weight for weight."""
    with torch.device("meta"):
        expected = {k: v.shape for k, v in build_architecture(arch).state_dict().items()}
    if {k: v.shape for k, v in frontend.upstream.state_dict().items()} != expected:
        raise RuntimeError(f"transformers' {arch} config does not give our {arch} architecture")


def strategy_options(num_layers: int) -> List[Tuple[str, int, Dict]]:
    """(name, factor, frontend options) of every strategy but hf_reference."""
    options: List[Tuple[str, int, Dict]] = [("none", 1, {})]
    for name in ("sd", "cl", "av"):
        options += [(name, k, {"downsample": name, "downsample_factor": k}) for k in (2, 3, 4)]
    for kept in sorted({num_layers // 2, 3 * num_layers // 4}):
        options.append((f"layers{kept}", 1, {"keep_layers": kept}))
    return options


def strategies(arch: str, src: Source, wave: torch.Tensor) -> List[Strategy]:
    lengths = torch.tensor([wave.size(1)])
    base = SSLUpstreamFrontend(weights=src.weights).eval()
    num_layers = len(base.upstream.encoder.transformer.layers)
    out: List[Strategy] = []
    for name, factor, options in strategy_options(num_layers):
        frontend = SSLUpstreamFrontend(weights=src.weights, **options).eval() if options else base
        if "downsample" in options:
            frontend.upstream = base.upstream  # one copy of the weights for all downsamplers
        out.append(Strategy(
            arch, name, factor, lambda f=frontend: f(wave, lengths), encoder_macs(frontend, wave.size(1)),
            sum(p.numel() for p in frontend.parameters()), len(frontend.upstream.encoder.transformer.layers),
        ))
    if src.hf_model is not None:
        check_architecture(arch, base)
        hf = src.hf_model
        with torch.inference_mode():
            ours, theirs = base(wave, lengths)[0], hf(wave).last_hidden_state
        print(f"{arch}: hf_reference vs none, max |output difference| = {(ours - theirs).abs().max():.2e}")
        out.append(Strategy(
            arch, "hf_reference", 1, lambda: hf(wave), count_macs(lambda: hf(wave)),
            sum(p.numel() for p in hf.parameters()), num_layers,
        ))
    return out


def measure(runs: Sequence[Strategy], repeats: int, warmup: int) -> None:
    """Round-robin timing; the starting strategy moves by one each round."""
    with torch.inference_mode():
        for _ in range(warmup):
            for s in runs:
                s.run()
        for r in range(repeats):
            for s in runs[r % len(runs):] + runs[: r % len(runs)]:
                start = time.perf_counter()
                s.run()
                s.times.append(time.perf_counter() - start)


def rows(runs: Sequence[Strategy], weights: str, seconds: float) -> List[Dict]:
    ref = next(s for s in runs if s.name == "none")
    t_ref = statistics.median(ref.times)
    out = []
    for s in runs:
        t = statistics.median(s.times)
        out.append({
            "arch": s.arch, "strategy": s.name, "factor": s.factor, "layers": s.layers,
            "params": s.params, "time_s": round(t, 5), "times_s": [round(x, 5) for x in s.times],
            "macs": s.macs, "macs_per_audio_s": round(s.macs / seconds),
            "speedup": round(t_ref / t, 3), "mac_reduction": round(1 - s.macs / ref.macs, 4),
            "audio_s": seconds, "threads": torch.get_num_threads(), "weights": weights,
        })
    return out


def print_table(table: Sequence[Dict]) -> None:
    print(f"{'arch':<12} {'strategy':<13} {'k':>2} {'layers':>6} {'params':>8} {'time_s':>8} "
          f"{'speedup':>7} {'GMACs':>8} {'MAC red.':>8}")
    for r in table:
        print(f"{r['arch']:<12} {r['strategy']:<13} {r['factor']:>2} {r['layers']:>6} "
              f"{r['params'] / 1e6:>7.1f}M {r['time_s']:>8.3f} {r['speedup']:>6.2f}x "
              f"{r['macs'] / 1e9:>8.2f} {r['mac_reduction']:>8.1%}")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arches", nargs="+", default=["hubert_base", "wavlm_large", "default"],
                        choices=[*HF_MODELS, "default"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "encoder.json")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    wave = torch.randn(1, int(args.seconds * FS))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.seconds:g} s of audio, "
          f"batch 1, float32, median of {args.repeats} (+{args.warmup} warm-up)")
    table: List[Dict] = []
    for arch in args.arches:
        with tempfile.TemporaryDirectory() as tmp:
            src = source(arch, Path(tmp))
            print(f"{arch}: {src.description}")
            runs = strategies(arch, src, wave)
            measure(runs, args.repeats, args.warmup)
        table += rows(runs, src.description, args.seconds)
        del runs, src  # one architecture's models in memory at a time
    print_table(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(table, indent=1) + "\n")
    print(f"written: {args.output}")
    return 0


def quiet() -> None:
    """No progress bars, warnings or notes from loading the same weights a dozen times."""
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.disable(logging.WARNING)


if __name__ == "__main__":
    quiet()
    sys.exit(main())
