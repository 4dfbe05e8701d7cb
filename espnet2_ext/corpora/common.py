"""Shared helpers of the corpus generators: Kaldi data dirs, parameter stamps, parallel jobs."""

import argparse
import json
import logging
import multiprocessing
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TypeVar

from espnet2_ext.context import MAX_OFFSET
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR, PathLike, read_map, write_map

SPLITS = ("train", "dev", "test")
STAMP_NAME = "corpus_params.json"

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class Utterance:
    """One utterance of a generated corpus; ``targets`` maps extra file names to values."""

    uttid: str
    speaker: str
    recid: str
    index: int
    text: str
    targets: Mapping[str, str] = field(default_factory=dict)


def write_data_dir(
    data_dir: PathLike,
    utterances: Sequence[Utterance],
    wav_scp: Mapping[str, str],
    segments: Optional[Mapping[str, str]] = None,
    transcribed: bool = True,
) -> None:
    """Write ``text, utt2spk, spk2utt, utt2rec, wav.scp`` (+ ``segments`` and target files), sorted;
    no ``text`` for audio without transcripts (``transcribed`` false)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_map(data_dir / "wav.scp", wav_scp)
    if segments is not None:
        write_map(data_dir / "segments", segments)
    if transcribed:
        write_map(data_dir / "text", {u.uttid: u.text for u in utterances})
    write_map(data_dir / "utt2spk", {u.uttid: u.speaker for u in utterances})
    write_map(data_dir / "utt2rec", {u.uttid: f"{u.recid} {u.index}" for u in utterances})
    spk2utt: Dict[str, List[str]] = {}
    for u in sorted(utterances, key=lambda u: u.uttid):
        spk2utt.setdefault(u.speaker, []).append(u.uttid)
    write_map(data_dir / "spk2utt", {spk: " ".join(utts) for spk, utts in spk2utt.items()})
    for name in sorted({name for u in utterances for name in u.targets}):
        write_map(data_dir / name, {u.uttid: u.targets[name] for u in utterances})


def write_neighbour_dir(data_dir: PathLike, utterances: Sequence[Utterance], wav_scp: Mapping[str, str],
                        transcribed: bool = True) -> None:
    """``data_dir/neighbours/`` (:data:`NEIGHBOUR_DIR`) holding ``utterances`` (without ``text`` if
    the release has no transcripts); without any, an earlier run's is removed, so that re-running a
    data preparation without the release is safe."""
    neighbour_dir = Path(data_dir) / NEIGHBOUR_DIR
    shutil.rmtree(neighbour_dir, ignore_errors=True)
    if utterances:
        write_data_dir(neighbour_dir, utterances, wav_scp, transcribed=transcribed)


def check_span(span: int) -> None:
    """The neighbour span reaches at most as far as the context inputs do (``MAX_OFFSET``)."""
    if not 1 <= span <= MAX_OFFSET:
        raise ValueError(f"neighbour_span must be within 1..{MAX_OFFSET}: {span}")


def add_neighbour_span(parser: argparse.ArgumentParser, release_option: str, unit: str = "segment") -> None:
    """``--neighbour_span N`` (1..``MAX_OFFSET``), which takes effect with ``release_option``."""
    parser.add_argument("--neighbour_span", type=int, default=1, choices=range(1, MAX_OFFSET + 1), metavar="N",
                        help=f"with {release_option}: neighbours/ holds the {unit}s within +-N ranks "
                             f"(1..{MAX_OFFSET}; default: %(default)s)")


def is_up_to_date(outdir: PathLike, params: Mapping[str, Any]) -> bool:
    """True when ``outdir`` was generated with ``params`` and all its audio files still exist."""
    stamp = Path(outdir) / STAMP_NAME
    if not stamp.is_file() or json.loads(stamp.read_text(encoding="utf-8")) != params:
        return False
    for split in SPLITS:
        wav_scp = Path(outdir) / split / "wav.scp"
        if not wav_scp.is_file() or not all(Path(p).is_file() for p in read_map(wav_scp).values()):
            return False
    return True


def write_stamp(outdir: PathLike, params: Mapping[str, Any]) -> None:
    """Record the generation parameters; written last so that an interrupted run is redone."""
    (Path(outdir) / STAMP_NAME).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def parallel_map(function: Callable[[In], Out], items: Iterable[In], nj: int) -> List[Out]:
    """``[function(x) for x in items]`` over ``nj`` spawned processes, results in input order."""
    items = list(items)
    if nj <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with multiprocessing.get_context("spawn").Pool(min(nj, len(items))) as pool:
        results = pool.map(function, items, chunksize=1)
    logging.info("processed %d jobs with %d processes", len(items), nj)
    return results
