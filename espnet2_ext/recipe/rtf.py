"""Decoding real-time factor of a decode directory (stand-in for ESPnet's calculate_rtf.py).

Each decoding shard writes ``<decode_dir>/logdir/output.<n>/timing.json`` =
``{"num_utts": int, "audio_seconds": float, "decode_seconds": float}``. The shards are summed:
the decode time is the sum of the shards' times (a CPU-time view, independent of how many
shards ran in parallel), RTF = decode time / audio duration, and the latency is the decode time
per utterance in milliseconds. The totals go to ``<decode_dir>/rtf.json``.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import PathLike

TIMING_GLOB = "logdir/output.*/timing.json"
TIMING_KEYS = ("num_utts", "audio_seconds", "decode_seconds")


def read_timing(path: Path) -> Dict[str, float]:
    """One shard's timing.json, checked for the three keys and non-negative numbers."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise at(path, err.lineno, f"not valid JSON: {err.msg}") from None
    for key in TIMING_KEYS:
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise at(path, None, f"'{key}' must be a non-negative number, got {value!r}")
    return {key: data[key] for key in TIMING_KEYS}


def aggregate(decode_dir: PathLike) -> Dict[str, float]:
    """Sum all shards of ``decode_dir`` and derive RTF and latency."""
    paths: List[Path] = sorted(Path(decode_dir).glob(TIMING_GLOB))
    if not paths:
        raise DataError(f"{decode_dir}: no {TIMING_GLOB} found")
    shards = [read_timing(p) for p in paths]
    total = {key: sum(s[key] for s in shards) for key in TIMING_KEYS}
    if total["audio_seconds"] <= 0 or total["num_utts"] <= 0:
        raise DataError(f"{decode_dir}: the shards decoded no audio")
    return {
        "num_shards": len(shards),
        "num_utts": int(total["num_utts"]),
        "audio_seconds": total["audio_seconds"],
        "decode_seconds": total["decode_seconds"],
        "rtf": total["decode_seconds"] / total["audio_seconds"],
        "latency_ms_per_utt": total["decode_seconds"] * 1000.0 / total["num_utts"],
    }


def summary_line(rtf: Dict[str, float]) -> str:
    """One line in the spirit of ESPnet's calculate_rtf.py output."""
    return (f"Total audio duration: {rtf['audio_seconds']:.3f} [sec], "
            f"Total decoding time: {rtf['decode_seconds']:.3f} [sec], "
            f"RTF: {rtf['rtf']:.5f}, Latency: {rtf['latency_ms_per_utt']:.3f} [ms/sentence]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_ext.recipe.rtf",
        description="Aggregate <decode_dir>/logdir/output.*/timing.json into "
        "<decode_dir>/rtf.json (total audio, summed decode time, RTF, latency) and print "
        "one summary line.",
    )
    parser.add_argument("decode_dir", type=Path, help="decoding directory (<exp>/<tag>/<set>)")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    rtf = aggregate(args.decode_dir)
    (args.decode_dir / "rtf.json").write_text(json.dumps(rtf, indent=2) + "\n", encoding="utf-8")
    print(summary_line(rtf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
