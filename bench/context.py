"""Context-aware fine-tuning benchmark: inference and training-step time per system.

    python -m bench.context [--arches hubert_base default] [--utts 10] [--seconds 3 8] [--batch 4]
                            [--repeats 5] [--steps 5] [--warmup 2] [--device cpu] [--threads N]
                            [--output bench/results/context.json] [--quick]

The systems are the mini_slue ASR configs, built by ESPnet's ASRTask with the frontend's
architecture and weights replaced: ``standard`` (the recipe's default,
train_asr_ssl_tiny_pretrained_conformer_ctc: weighted sum of layers, SpecAugment, conformer
head), ``ctx_aware_a`` (neighbours as training inputs, train_asr_ctxaware_neighbours_ctc),
``ctx_aware_b`` (recording batches, train_asr_ctxaware_batch_ctc) and ``ctx_inject``
(train_asr_ctxinject_ctc), which differ from it only in their method. ``hubert_base`` has random
weights; ``default`` is the project's pretrained upstream, or a random ``tiny`` one while that
file does not exist (the output says which). Every system of an architecture starts from the
same upstream weights (same seed). The configs' head warm-up (``freeze_steps``) is turned off, so
that the training steps timed are fine-tuning steps (upstream trained), not warm-up ones.

* Inference: a synthetic test set (``--utts`` consecutive segments of one recording, lengths
  uniform in ``--seconds``, seed 0), decoded one segment at a time as stage 12 does (``encode``
  + best-path CTC, eval and inference mode); context injection gets [previous; segment; next] as
  its two-channel input. Time: the whole set; median over ``--repeats`` rounds.
* Training step: forward + backward + gradient clipping + AdamW step on a fixed batch of
  ``--batch`` consecutive segments (mode a also gets their previous and next segments, mode b
  their positions, injection their concatenations); median of ``--steps`` after ``--warmup``.

Each round times every system once, in rotated order, so machine noise hits them alike. Ratios
are to ``standard`` of the same architecture; the targets are inference <= 1.02x for the
context-aware systems and a training step <= 1.3x for mode b.
"""

from espnet2_ext import offline  # noqa: F401  (before any espnet2 import)

import argparse
import json
import logging
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from bench.timing import round_robin
from espnet2_ext.context.data import frame_stride, injected_audio
from espnet2_ext.tasks import ASRTask
from espnet2_ext.upstream.architectures import ARCHITECTURES
from espnet2_ext.upstream.frontend import SSLUpstreamFrontend

ROOT = Path(__file__).resolve().parents[1]
TUNING = ROOT / "egs2" / "mini_slue" / "asr1" / "conf" / "tuning"
DEFAULT_UPSTREAM = ROOT / "egs2" / "mini_slue" / "ssl1" / "pretrained" / "upstream.pth"
FS = 16000
CONFIGS = {
    "standard": "train_asr_ssl_tiny_pretrained_conformer_ctc.yaml",
    "ctx_aware_a": "train_asr_ctxaware_neighbours_ctc.yaml",
    "ctx_aware_b": "train_asr_ctxaware_batch_ctc.yaml",
    "ctx_inject": "train_asr_ctxinject_ctc.yaml",
}
TOKENS = ["<blank>", "<unk>", *"abcdefghijklmnopqrstuvwxyz '", "<sos/eos>"]
Batch = Dict[str, torch.Tensor]


@dataclass
class System:
    name: str
    model: torch.nn.Module
    test_inputs: List[torch.Tensor]
    batch: Batch
    optimizer: torch.optim.Optimizer
    infer_times: List[float] = field(default_factory=list)
    train_times: List[float] = field(default_factory=list)


def upstream(arch: str) -> Tuple[Dict, int, str]:
    """(frontend_conf replacing the configs' arch/weights, frame dimension, description)."""
    if arch != "default":
        return {"arch": arch, "weights": "random"}, ARCHITECTURES[arch]["encoder_embed_dim"], f"random {arch}"
    if DEFAULT_UPSTREAM.is_file():
        conf = {"weights": str(DEFAULT_UPSTREAM)}
        return conf, SSLUpstreamFrontend(**conf).output_size(), str(DEFAULT_UPSTREAM.relative_to(ROOT))
    return ({"arch": "tiny", "weights": "random"}, ARCHITECTURES["tiny"]["encoder_embed_dim"],
            f"random tiny: {DEFAULT_UPSTREAM.relative_to(ROOT)} does not exist")


def build(config: str, frontend_conf: Dict, dim: int, tmp: Path) -> torch.nn.Module:
    conf = yaml.safe_load((TUNING / config).read_text())
    kept = {k: v for k, v in conf["frontend_conf"].items() if k not in ("arch", "weights")}
    conf["frontend_conf"] = {**kept, **frontend_conf, "freeze_steps": 0}  # time fine-tuning steps
    if conf["encoder_conf"].get("input_layer") is None:
        conf["encoder_conf"]["output_size"] = dim  # LinearEncoder stays a pass-through
    (tmp / config).write_text(yaml.safe_dump(conf))
    (tmp / "tokens.txt").write_text("".join(f"{t}\n" for t in TOKENS))
    args = ASRTask.get_parser().parse_args(
        ["--config", str(tmp / config), "--token_list", str(tmp / "tokens.txt"), "--output_dir", str(tmp / "exp")]
    )
    torch.manual_seed(0)  # the same upstream weights for every system
    return ASRTask.build_model(args)


def recording(num: int, seconds: Tuple[float, float], seed: int) -> List[np.ndarray]:
    rng = np.random.RandomState(seed)
    return [(0.1 * rng.randn(int(rng.uniform(*seconds) * FS))).astype(np.float32) for _ in range(num)]


def injected(segments: Sequence[np.ndarray], i: int, stride: int) -> np.ndarray:
    """Segment i with its previous and next segment (where they exist), two channels."""
    return injected_audio(segments[max(i - 1, 0):i], segments[i], segments[i + 1:i + 2], stride)


def pad(arrays: Sequence[np.ndarray], device: str) -> Tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(a) for a in arrays])
    out = torch.zeros(len(arrays), int(lengths.max()), *arrays[0].shape[1:])
    for b, a in enumerate(arrays):
        out[b, : len(a)] = torch.from_numpy(a)
    return out.to(device), lengths.to(device)


def batches(segments: Sequence[np.ndarray], device: str, stride: int) -> Dict[str, Batch]:
    """Training batch of each system: segments 1..n-2 of ``segments`` (all have both neighbours)."""
    items = range(1, len(segments) - 1)
    rng = np.random.RandomState(1)
    texts = [rng.randint(2, len(TOKENS) - 1, size=int(len(segments[i]) / FS * 10)) for i in items]
    text = torch.full((len(texts), max(map(len, texts))), -1, dtype=torch.long)
    for b, t in enumerate(texts):
        text[b, : len(t)] = torch.from_numpy(t)
    target = {"text": text.to(device), "text_lengths": torch.tensor([len(t) for t in texts]).to(device)}
    speech, lengths = pad([segments[i] for i in items], device)
    standard = {"speech": speech, "speech_lengths": lengths, **target}
    prev, prev_len = pad([segments[i - 1] for i in items], device)
    nxt, nxt_len = pad([segments[i + 1] for i in items], device)
    ones = torch.ones(len(items), 2, dtype=torch.long, device=device)
    inject, inject_len = pad([injected(segments, i, stride) for i in items], device)
    return {
        "standard": standard,
        "ctx_aware_a": {**standard, "speech_prev": prev, "speech_prev_lengths": prev_len,
                        "speech_next": nxt, "speech_next_lengths": nxt_len, "ctx_mask": ones},
        "ctx_aware_b": {**standard, "utt2pos": torch.tensor([[0, i] for i in items], device=device)},
        "ctx_inject": {"speech": inject, "speech_lengths": inject_len, **target},
    }


def decode(model: torch.nn.Module, inputs: Sequence[torch.Tensor]) -> None:
    """Stage 12 with --ctc_greedy: encode one segment, best CTC path."""
    for x in inputs:
        encoded, _ = model.encode(x[None], torch.tensor([x.size(0)], device=x.device))
        model.ctc.log_softmax(encoded).argmax(-1).tolist()


def train_step(system: System) -> None:
    system.optimizer.zero_grad(set_to_none=True)
    loss, _, _ = system.model(**system.batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(system.model.parameters(), 5.0)  # the configs' grad_clip
    system.optimizer.step()


def rounds(systems: Sequence[System], count: int, run: Callable[[System], None], record: Optional[str],
           device: str) -> None:
    """``count`` round-robin rounds of ``run`` on every system; times appended to ``record``."""
    for s, times in zip(systems, round_robin(systems, count, run, device)):
        if record:
            getattr(s, record).extend(times)


def measure(systems: Sequence[System], args: argparse.Namespace) -> None:
    with torch.inference_mode():
        for s in systems:
            s.model.eval()
        rounds(systems, 1, lambda s: decode(s.model, s.test_inputs[:1]), None, args.device)
        rounds(systems, args.repeats, lambda s: decode(s.model, s.test_inputs), "infer_times", args.device)
    for s in systems:
        s.model.train()
    rounds(systems, args.warmup, train_step, None, args.device)
    rounds(systems, args.steps, train_step, "train_times", args.device)


def run_arch(arch: str, args: argparse.Namespace) -> List[Dict]:
    frontend_conf, dim, description = upstream(arch)
    print(f"{arch}: {description}", flush=True)
    test = recording(args.utts, tuple(args.seconds), seed=0)
    train = recording(args.batch + 2, tuple(args.seconds), seed=1)
    test_plain = [torch.from_numpy(x).to(args.device) for x in test]
    stride = frame_stride(frontend_conf)
    test_inject = [torch.from_numpy(injected(test, i, stride)).to(args.device) for i in range(len(test))]
    train_batches = batches(train, args.device, stride)
    systems: List[System] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in CONFIGS.items():
            model = build(config, frontend_conf, dim, Path(tmp)).to(args.device)
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
            inputs = test_inject if name == "ctx_inject" else test_plain
            systems.append(System(name, model, inputs, train_batches[name], optimizer))
    measure(systems, args)
    ref = systems[0]
    infer_ref, train_ref = statistics.median(ref.infer_times), statistics.median(ref.train_times)
    rows = []
    for s in systems:
        infer, step = statistics.median(s.infer_times), statistics.median(s.train_times)
        rows.append({
            "arch": arch, "system": s.name, "config": CONFIGS[s.name],
            "infer_time_s": round(infer, 5), "train_step_s": round(step, 5),
            "infer_ratio": round(infer / infer_ref, 4), "train_ratio": round(step / train_ref, 4),
            "infer_times_s": [round(t, 5) for t in s.infer_times],
            "train_times_s": [round(t, 5) for t in s.train_times],
            "params": sum(p.numel() for p in s.model.parameters()),
            "test_utts": len(test), "test_audio_s": round(sum(map(len, test)) / FS, 3),
            "batch_utts": args.batch, "batch_audio_s": round(sum(map(len, train[1:-1])) / FS, 3),
            "upstream": description, "device": args.device, "threads": torch.get_num_threads(),
        })
    return rows


def print_table(table: Sequence[Dict]) -> None:
    print(f"{'arch':<12} {'system':<12} {'params':>8} {'infer_s':>8} {'ratio':>6} {'step_s':>8} {'ratio':>6}")
    for r in table:
        print(f"{r['arch']:<12} {r['system']:<12} {r['params'] / 1e6:>7.1f}M {r['infer_time_s']:>8.3f} "
              f"{r['infer_ratio']:>5.3f}x {r['train_step_s']:>8.3f} {r['train_ratio']:>5.3f}x")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arches", nargs="+", default=["hubert_base", "default"], choices=["hubert_base", "default"])
    parser.add_argument("--utts", type=int, default=10, help="test segments")
    parser.add_argument("--seconds", type=float, nargs=2, default=[3.0, 8.0], help="segment length range")
    parser.add_argument("--batch", type=int, default=4, help="segments per training batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the test set")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON results (default: bench/results/context.json; none with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a check that it runs: 3 test segments of 1-2 s, batch 2, 1 round each")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    if args.quick:
        args.utts, args.seconds, args.batch, args.repeats, args.steps, args.warmup = 3, [1.0, 2.0], 2, 1, 1, 1
    elif args.output is None:
        args.output = ROOT / "bench" / "results" / "context.json"
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads; test set {args.utts} "
          f"segments of {args.seconds[0]:g}-{args.seconds[1]:g} s, batch {args.batch}; median of {args.repeats} "
          f"inference rounds, {args.steps} training steps (+{args.warmup} warm-up)", flush=True)
    table: List[Dict] = []
    for arch in args.arches:
        table += run_arch(arch, args)  # one architecture's models in memory at a time
    print_table(table)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(table, indent=1) + "\n")
        print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the random-weights warning, once per system
    sys.exit(main())
