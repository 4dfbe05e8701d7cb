"""Encoder benchmark: wall time and MACs of the frontend (downsampler + upstream) per strategy.

    python -m bench.encoder [--arches hubert_base wavlm_large default] [--repeats 5] [--warmup 1]
                            [--seconds 10] [--threads N] [--output bench/results/encoder.json]

For each architecture, on one utterance of ``--seconds`` (inference mode, CPU), it runs
``none`` (the plain upstream), ``sd``/``cl``/``av`` at factors 2, 3 and 4, ``layers<N>`` (the first
N transformer layers kept, N = half and three quarters of them) and ``hf_reference``: transformers'
own HubertModel/WavLMModel on the same weights (ours are loaded from its save_pretrained directory).
``none`` and the x3 downsamplers also run in two lower precisions on the same weights: ``bf16`` (the
transformer under bfloat16 autocast, the frontend's ``bf16_transformer``) and ``int8`` (torch's
dynamic int8 quantisation of every ``nn.Linear`` of the upstream); their ``rel_error`` is the
relative L2 distance of their output from the same strategy's in float32. ``hubert_base`` and
``wavlm_large`` have random weights; ``default`` is the project's pretrained upstream, or a random
``tiny`` one while that file does not exist. Times are medians
over ``--repeats`` rounds; each round times every strategy of an architecture once, in rotated
order, so machine noise hits them alike. MACs come from torch's FlopCounterMode
(``espnet2_ext.fastinf.macs``; a lower precision does the same multiply-accumulates). No training:
CL runs its initial filter, which costs what a trained one does. Speed-up and MAC reduction are
relative to float32 ``none`` of the same architecture. ``gflops`` (2 x MACs / time) is set against
``peak_gflops``, what the machine reaches in the same precision on one large ``nn.Linear`` (2048 x
2048 weights, 2048 rows), measured in the same run.
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

from bench.timing import round_robin
from espnet2_ext.fastinf.macs import count_macs, encoder_macs
from espnet2_ext.fastinf.precision import PRECISIONS, int8_dynamic
from espnet2_ext.upstream.architectures import ARCHITECTURES, build_architecture
from espnet2_ext.upstream.checkpoints import export_upstream
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_UPSTREAM = ROOT / "egs2" / "mini_slue" / "ssl1" / "pretrained" / "upstream.pth"
FS = 16000
PEAK_SIZE = 2048  # the square nn.Linear whose speed is the machine's peak
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
    precision: str = "fp32"
    rel_error: float = 0.0
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


def in_precision(
    frontend: SSLUpstreamFrontend, src: Source, options: Dict, precision: str, int8_upstream: torch.nn.Module
) -> SSLUpstreamFrontend:
    """``frontend`` (built from ``options``) in a lower precision, with the same downsampler."""
    variant = SSLUpstreamFrontend(weights=src.weights, bf16_transformer=precision == "bf16", **options).eval()
    variant.upstream = int8_upstream if precision == "int8" else frontend.upstream
    variant.downsampler = frontend.downsampler
    return variant


def relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(output.float() - reference) / torch.linalg.vector_norm(reference))


def strategies(arch: str, src: Source, wave: torch.Tensor) -> List[Strategy]:
    lengths = torch.tensor([wave.size(1)])
    base = SSLUpstreamFrontend(weights=src.weights).eval()
    num_layers = len(base.upstream.encoder.transformer.layers)
    int8_upstream = int8_dynamic(base.upstream)
    out: List[Strategy] = []
    for name, factor, options in strategy_options(num_layers):
        frontend = SSLUpstreamFrontend(weights=src.weights, **options).eval() if options else base
        if "downsample" in options:
            frontend.upstream = base.upstream  # one copy of the weights for all downsamplers
        fp32 = Strategy(
            arch, name, factor, lambda f=frontend: f(wave, lengths), encoder_macs(frontend, wave.size(1)),
            sum(p.numel() for p in frontend.parameters()), len(frontend.upstream.encoder.transformer.layers),
        )
        out.append(fp32)
        if factor not in (1, 3) or name.startswith("layers"):
            continue
        with torch.inference_mode():
            reference = frontend(wave, lengths)[0]
            for precision in PRECISIONS[1:]:
                variant = in_precision(frontend, src, options, precision, int8_upstream)
                error = relative_error(variant(wave, lengths)[0], reference)
                out.append(Strategy(arch, name, factor, lambda f=variant: f(wave, lengths), fp32.macs,
                                    fp32.params, fp32.layers, precision, error))
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
    with torch.inference_mode():
        round_robin(runs, warmup, lambda s: s.run())
        for s, times in zip(runs, round_robin(runs, repeats, lambda s: s.run())):
            s.times.extend(times)


def linear_peak_gflops(precision: str, repeats: int, size: int = PEAK_SIZE) -> float:
    """GFLOP/s of one large square nn.Linear in ``precision``, the best of ``repeats`` runs."""
    layer = torch.nn.Linear(size, size, bias=False).eval()
    if precision == "int8":
        layer = int8_dynamic(layer)
    x = torch.randn(size, size)
    times = []
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
        for _ in range(repeats + 1):  # the first is a warm-up
            start = time.perf_counter()
            layer(x)
            times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times[1:]) / 1e9


def rows(runs: Sequence[Strategy], weights: str, seconds: float, peaks: Dict[str, float]) -> List[Dict]:
    ref = next(s for s in runs if s.name == "none" and s.precision == "fp32")
    t_ref = statistics.median(ref.times)
    out = []
    for s in runs:
        t = statistics.median(s.times)
        gflops = 2 * s.macs / t / 1e9
        out.append({
            "arch": s.arch, "strategy": s.name, "factor": s.factor, "precision": s.precision,
            "layers": s.layers, "params": s.params, "time_s": round(t, 5),
            "times_s": [round(x, 5) for x in s.times], "macs": s.macs,
            "macs_per_audio_s": round(s.macs / seconds), "speedup": round(t_ref / t, 3),
            "mac_reduction": round(1 - s.macs / ref.macs, 4), "rel_error": round(s.rel_error, 5),
            "gflops": round(gflops, 2), "peak_gflops": round(peaks[s.precision], 2),
            "peak_ratio": round(gflops / peaks[s.precision], 6),
            "audio_s": seconds, "threads": torch.get_num_threads(), "weights": weights,
        })
    return out


def print_table(table: Sequence[Dict]) -> None:
    print(f"{'arch':<12} {'strategy':<13} {'k':>2} {'prec':>4} {'layers':>6} {'params':>8} {'time_s':>8} "
          f"{'speedup':>7} {'GMACs':>8} {'MAC red.':>8} {'rel.err':>7} {'GFLOP/s':>7} {'of peak':>7}")
    for r in table:
        print(f"{r['arch']:<12} {r['strategy']:<13} {r['factor']:>2} {r['precision']:>4} {r['layers']:>6} "
              f"{r['params'] / 1e6:>7.1f}M {r['time_s']:>8.3f} {r['speedup']:>6.2f}x "
              f"{r['macs'] / 1e9:>8.2f} {r['mac_reduction']:>8.1%} {r['rel_error']:>7.4f} "
              f"{r['gflops']:>7.1f} {r['peak_ratio']:>7.1%}")


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
          f"batch 1, median of {args.repeats} (+{args.warmup} warm-up)")
    peaks = {p: linear_peak_gflops(p, args.repeats) for p in PRECISIONS}
    print("peak GFLOP/s of a square nn.Linear: " + ", ".join(f"{p} {g:.1f}" for p, g in peaks.items()))
    table: List[Dict] = []
    for arch in args.arches:
        with tempfile.TemporaryDirectory() as tmp:
            src = source(arch, Path(tmp))
            print(f"{arch}: {src.description}")
            runs = strategies(arch, src, wave)
            measure(runs, args.repeats, args.warmup)
        table += rows(runs, src.description, args.seconds, peaks)
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
