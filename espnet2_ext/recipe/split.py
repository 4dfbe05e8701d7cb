"""Split a Kaldi scp file into contiguous, near-equal parts (Kaldi's ``utils/split_scp.pl``).

    python -m espnet2_ext.recipe.split [--utt2spk data/train/utt2spk] wav.scp out/wav.1.scp out/wav.2.scp

Without ``--utt2spk`` the first ``len % n`` parts get one line more than the others. With it,
all lines of a speaker go to the same part (their lines must be contiguous, as in a sorted dir
whose utterance ids start with the speaker id) and parts are balanced by line count.
"""

import argparse
import itertools
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from espnet2_ext.errors import at, cli_entry
from espnet2_ext.kaldi_files import PathLike, iter_lines, read_map

Line = Tuple[int, str, str]  # (lineno, key, value) as iter_lines yields them


def split_evenly(n_items: int, n_parts: int) -> List[int]:
    """Part sizes: n_items // n_parts each, one more for the first n_items % n_parts."""
    base, extra = divmod(n_items, n_parts)
    return [base + 1 if i < extra else base for i in range(n_parts)]


def _speaker_groups(path: PathLike, lines: List[Line], utt2spk: Dict[str, str]) -> List[List[Line]]:
    """Consecutive lines grouped by speaker; a speaker that reappears later is an error."""
    groups: List[List[Line]] = []
    seen = set()
    for line in lines:
        lineno, key, _ = line
        if key not in utt2spk:
            raise at(path, lineno, f"'{key}' is not in utt2spk")
        speaker = utt2spk[key]
        if groups and utt2spk[groups[-1][-1][1]] == speaker:
            groups[-1].append(line)
            continue
        if speaker in seen:
            raise at(path, lineno, f"lines of speaker '{speaker}' are not contiguous (sort the file first)")
        seen.add(speaker)
        groups.append([line])
    return groups


def _balanced_boundaries(sizes: List[int], n_parts: int) -> List[int]:
    """Group indices where parts 2..n start, so that each part's cumulative line count is the
    nearest possible to an equal share (hand-written: no library does contiguous balancing)."""
    cumulative = list(itertools.accumulate(sizes))
    total = cumulative[-1]
    boundaries: List[int] = []
    start = 0
    for part in range(1, n_parts):
        # at least one group for this part, and one for each part after it
        candidates = range(start + 1, len(sizes) - (n_parts - part) + 1)
        target = total * part / n_parts
        start = min(candidates, key=lambda b: abs(cumulative[b - 1] - target))
        boundaries.append(start)
    return boundaries


def split_lines(
    path: PathLike, n_parts: int, utt2spk: Optional[Dict[str, str]] = None
) -> List[List[Line]]:
    """Read an scp file and split its lines into n_parts contiguous parts."""
    lines = list(iter_lines(path))
    groups = _speaker_groups(path, lines, utt2spk) if utt2spk is not None else [[line] for line in lines]
    if n_parts > len(groups):
        unit = "speakers" if utt2spk is not None else "lines"
        raise at(path, None, f"cannot split {len(groups)} {unit} into {n_parts} parts")
    if utt2spk is None:
        sizes = split_evenly(len(lines), n_parts)
        edges = list(itertools.accumulate(sizes, initial=0))
    else:
        edges = [0, *_balanced_boundaries([len(g) for g in groups], n_parts), len(groups)]
    return [list(itertools.chain(*groups[a:b])) for a, b in zip(edges, edges[1:])]


def _write_lines(path: PathLike, lines: List[Line]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(f"{key} {value}\n" if value else f"{key}\n" for _, key, value in lines)


def write_split(
    path: PathLike, outputs: Sequence[PathLike], utt2spk: Optional[PathLike] = None
) -> List[Path]:
    """Split path into the given output files (split_scp.pl's calling convention)."""
    speakers = read_map(utt2spk) if utt2spk is not None else None
    for output, part in zip(outputs, split_lines(path, len(outputs), speakers)):
        _write_lines(output, part)
    return [Path(o) for o in outputs]


def split_scp(
    path: PathLike, n: int, outdir: PathLike, pattern: str, utt2spk: Optional[PathLike] = None
) -> List[Path]:
    """Split path into n files ``outdir/pattern``, with ``JOB`` in pattern replaced by 1..n."""
    if "JOB" not in pattern:
        raise ValueError(f"pattern must contain JOB: {pattern!r}")
    outputs = [Path(outdir) / pattern.replace("JOB", str(i)) for i in range(1, n + 1)]
    return write_split(path, outputs, utt2spk)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Split an scp file into contiguous parts of near-equal line counts "
        "(like Kaldi's split_scp.pl). Fails if there are more outputs than lines (or speakers).",
    )
    parser.add_argument("--utt2spk", help="keep all lines of a speaker in the same output")
    parser.add_argument("scp", help="input file, one 'key value' per line")
    parser.add_argument("outputs", nargs="+", help="output files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    write_split(args.scp, args.outputs, args.utt2spk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
