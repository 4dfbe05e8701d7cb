"""Decoding benchmark: trained ASR systems decode the same utterances, timed round-robin in one
process (issue 21: decoding times that rank systems, with and without the LM, in each precision).

    python -m bench.decode --recipe egs2/mini_slue/asr1 --lm_config conf/decode_asr_lm.yaml \\
        --system baseline exp/asr_asr_train_asr_ep20 fp32,bf16,int8 \\
        --system av3 exp/asr_asr_train_asr_fastinf_av3_ctc_ep60 fp32,bf16,int8 \\
        --output bench/results/decode_mini_slue.json

Paths after ``--recipe`` are relative to the recipe directory (the models' configs name their
token lists and upstream weights relative to it); ``--output`` is relative to where the command
runs. Each ``--system NAME EXP_DIR PRECISIONS`` is a trained exp dir (its ``config.yaml`` and
``--model_file``) decoded with its upstream in each listed precision
(``espnet2_ext.fastinf.precision``) and with two searches, as ``espnet2_ext.bin.asr_inference``
runs them: ``best_path`` (argmax per frame: the encoder's cost) and ``lm``, the CTC prefix beam
search with the word n-gram of ``--lm_config`` (a decoding config with ``ctc_lm``; left out: best
path only). The utterances are the first ``--num_utts`` of ``<data>/wav.scp``, decoded one at a time
(batch 1, as stage 12). A round decodes them once with every variant, the order rotated each round;
a variant's time is the median over ``--repeats`` rounds of its total, after ``--warmup`` untimed
rounds. Speed-ups are against the first system's first precision with the same search. Models and
the LM load before any timing. Error rates come from stage 12's decodes of the whole test set
(``asr_inference --upstream_precision``), not from here.
"""

from espnet2_ext import offline  # noqa: F401  (before any espnet2 import)

import argparse
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile
import torch
import yaml

from bench.timing import round_robin
from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.fastinf.precision import PRECISIONS
from espnet2_ext.kaldi_files import iter_lines

SEARCHES = ("best_path", "lm")


@dataclass
class Variant:
    system: str
    exp_dir: str
    precision: str
    search: str
    speech2text: object
    times: List[float] = field(default_factory=list)


def speech2text(exp_dir: Path, model_file: str, precision: str, search: str, lm_config: Dict) -> object:
    """The Speech2Text that ``asr_inference`` would build for these options (its defaults where
    the decoding config is silent)."""
    import espnet2.bin.asr_inference as stock

    from espnet2_ext.bin.asr_inference import CTC_LM_OPTIONS, get_parser, search_class, with_upstream_precision

    parser = get_parser()
    options = {key: lm_config.get(key, parser.get_default(key)) for key in CTC_LM_OPTIONS}
    options.update(ctc_greedy=search == "best_path", ctc_lm=options["ctc_lm"] if search == "lm" else None)
    cls = with_upstream_precision(search_class(options), precision)
    return cls(asr_train_config=exp_dir / "config.yaml", asr_model_file=exp_dir / model_file, device="cpu",
               ctc_weight=1.0, lm_weight=0.0, nbest=1)


def read_utterances(data: Path, count: int) -> List[np.ndarray]:
    waves = []
    for _, _, path in iter_lines(data / "wav.scp"):
        if len(waves) == count:
            break
        wave, rate = soundfile.read(path, dtype="float32")
        if rate != SAMPLE_RATE:
            raise ValueError(f"{path}: {rate} Hz audio, the models take {SAMPLE_RATE}")
        waves.append(wave)
    return waves


def parse_systems(systems: Sequence[Sequence[str]]) -> List[tuple]:
    parsed = []
    for name, exp_dir, precisions in systems:
        listed = precisions.split(",")
        unknown = sorted(set(listed) - set(PRECISIONS))
        if unknown:
            raise ValueError(f"--system {name}: unknown precision {', '.join(unknown)} (choose from {', '.join(PRECISIONS)})")
        parsed.append((name, Path(exp_dir), listed))
    return parsed


def rows(variants: Sequence[Variant], audio_s: float, num_utts: int) -> List[Dict]:
    reference: Dict[str, float] = {}
    out = []
    for v in variants:
        t = statistics.median(v.times)
        reference.setdefault(v.search, t)
        out.append({
            "system": v.system, "exp_dir": v.exp_dir, "precision": v.precision, "search": v.search,
            "time_s": round(t, 6), "times_s": [round(x, 6) for x in v.times], "rtf": round(t / audio_s, 5),
            "speedup": round(reference[v.search] / t, 3), "audio_s": round(audio_s, 2), "num_utts": num_utts,
            "threads": torch.get_num_threads(),
        })
    return out


def markdown(table: Sequence[Dict]) -> str:
    lines = ["| system | precision | search | time (s), median [min, max] | RTF | speed-up |", "|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['system']} | {r['precision']} | {r['search']} | {r['time_s']:.2f} "
                     f"[{min(r['times_s']):.2f}, {max(r['times_s']):.2f}] | {r['rtf']:.4f} | {r['speedup']:.2f}x |")
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=Path("."), help="the recipe directory the paths below are in")
    parser.add_argument("--system", nargs=3, action="append", required=True, metavar=("NAME", "EXP_DIR", "PRECISIONS"),
                        help="a trained system and its upstream precisions (comma-separated: fp32,bf16,int8)")
    parser.add_argument("--model_file", default="valid.loss.best.pth", help="the checkpoint in each exp dir")
    parser.add_argument("--data", type=Path, default=Path("dump/raw/test"), help="a data dir with wav.scp")
    parser.add_argument("--num_utts", type=int, default=30)
    parser.add_argument("--lm_config", type=Path, default=None, help="a decoding config with ctc_lm (and its weights)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (stage 12 decodes with one)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/decode.json"))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    output = args.output.resolve()
    systems = parse_systems(args.system)
    torch.set_num_threads(args.threads)
    os.chdir(args.recipe)
    lm_config = yaml.safe_load(args.lm_config.read_text()) if args.lm_config else {}
    if args.lm_config and not lm_config.get("ctc_lm"):
        raise ValueError(f"{args.lm_config}: no ctc_lm in this decoding config")
    searches = SEARCHES if lm_config else SEARCHES[:1]
    waves = read_utterances(args.data, args.num_utts)
    audio_s = sum(len(w) for w in waves) / SAMPLE_RATE
    variants = [Variant(name, str(exp_dir), precision, search,
                        speech2text(exp_dir, args.model_file, precision, search, lm_config))
                for name, exp_dir, precisions in systems for precision in precisions for search in searches]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(waves)} utterances, {audio_s:.1f} s "
          f"of audio; {len(variants)} variants, median of {args.repeats} round(s) (+{args.warmup} warm-up)", flush=True)

    def decode(v: Variant) -> None:
        for wave in waves:
            v.speech2text(wave)

    round_robin(variants, args.warmup, decode)
    for v, times in zip(variants, round_robin(variants, args.repeats, decode)):
        v.times.extend(times)
    table = rows(variants, audio_s, len(waves))
    print(markdown(table))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(table, indent=1) + "\n")
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # ESPnet logs every utterance it decodes
    sys.exit(main())
