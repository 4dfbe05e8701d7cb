"""Connected-digit corpus (like TIDIGITS) built from the Free Spoken Digit Dataset (FSDD).

FSDD files ``recordings/{digit}_{speaker}_{index}.wav`` (8 kHz, one spoken digit each) are read in
place. An utterance is 3-7 digits of ONE speaker joined with short pauses, written as an 8 kHz 16-bit
wav (the recipe's format stage resamples to 16 kHz); its transcript is the digit words
(``three five nine``).

Splits: one whole speaker (default ``nicolas``) is the test set (speaker-independent test); of the
other speakers' files, a seeded 10% of each (speaker, digit) go to dev and the rest to train, so the
three splits never share a source file. Within a split a source file may be used in several
utterances (each file of a (speaker, digit) pool is used once before any is reused).
Consecutive utterances of a speaker form recordings of 8-12 utterances (``utt2rec``).

Ids: speaker ``george``, recording ``george_train_r003``, utterance ``george_train_r003_07``.
The output depends only on the parameters and is skipped when ``<outdir>/corpus_params.json``
matches and the wavs exist.

CLI::

    python -m espnet2_ext.corpora.fsdd --fsdd_dir ../shared/data/fsdd --outdir data \\
        --audio_dir downloads/fsdd_digits [--test_speaker nicolas] [--seed 0] [--size default|tiny]
"""

import argparse
import functools
import logging
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile

from espnet2_ext.corpora.common import SPLITS, Utterance, is_up_to_date, write_data_dir, write_stamp
from espnet2_ext.errors import DataError, at, cli_entry

VERSION = 1  # bump when the generated data changes for equal parameters
FSDD_RATE = 8000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Utterances per speaker in each split.
SIZES: Dict[str, Dict[str, int]] = {
    "default": {"train": 300, "dev": 40, "test": 250},
    "tiny": {"train": 4, "dev": 3, "test": 4},
}
DEV_FRACTION = 0.1
DIGITS_PER_UTTERANCE = (3, 7)
UTTERANCES_PER_RECORDING = (8, 12)
PAUSE_S = (0.05, 0.25)  # between digits
EDGE_PAUSE_S = (0.1, 0.25)  # before the first and after the last digit
_FILE_NAME = re.compile(r"^([0-9])_([a-z]+)_([0-9]+)\.wav$")

Source = Tuple[int, str, int]  # (digit, speaker, index)
Pools = Dict[str, Dict[int, List[int]]]  # speaker -> digit -> file indices


@dataclass(frozen=True)
class DigitUtterance:
    """One planned utterance: its source files and the pauses (in samples) around them."""

    uttid: str
    speaker: str
    recid: str
    index: int
    sources: Tuple[Source, ...]
    pauses: Tuple[int, ...]  # len(sources) + 1

    @property
    def text(self) -> str:
        return " ".join(DIGIT_WORDS[digit] for digit, _, _ in self.sources)


def source_name(source: Source) -> str:
    digit, speaker, index = source
    return f"{digit}_{speaker}_{index}.wav"


def scan_fsdd(fsdd_dir: Path) -> Pools:
    """speaker -> digit -> sorted file indices found under ``fsdd_dir/recordings``."""
    recordings = fsdd_dir / "recordings"
    if not recordings.is_dir():
        raise DataError(f"{recordings}: not a directory (expected the FSDD 'recordings' folder)")
    found: Pools = {}
    for path in sorted(recordings.glob("*.wav")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise at(path, None, "file name is not '{digit}_{speaker}_{index}.wav'")
        digit, speaker, index = int(match.group(1)), match.group(2), int(match.group(3))
        found.setdefault(speaker, {}).setdefault(digit, []).append(index)
    for speaker, digits in found.items():
        if len(digits) != len(DIGIT_WORDS):
            raise DataError(f"{recordings}: speaker '{speaker}' lacks digits "
                            f"{sorted(set(range(len(DIGIT_WORDS))) - set(digits))}")
        for indices in digits.values():
            indices.sort()
    return found


def split_sources(found: Pools, test_speaker: str, seed: int) -> Dict[str, Pools]:
    """split -> speaker -> digit -> file indices; the test speaker alone is the test split."""
    if test_speaker not in found:
        raise DataError(f"test speaker '{test_speaker}' is not in FSDD (speakers: {', '.join(sorted(found))})")
    if len(found) < 2:
        raise DataError("FSDD needs at least two speakers (one is held out for test)")
    splits: Dict[str, Pools] = {s: {} for s in SPLITS}
    splits["test"][test_speaker] = found[test_speaker]
    for speaker in sorted(set(found) - {test_speaker}):
        for digit, indices in sorted(found[speaker].items()):
            shuffled = list(indices)
            random.Random(f"fsdd/{seed}/dev/{speaker}/{digit}").shuffle(shuffled)
            n_dev = max(1, round(DEV_FRACTION * len(shuffled)))
            splits["dev"].setdefault(speaker, {})[digit] = sorted(shuffled[:n_dev])
            splits["train"].setdefault(speaker, {})[digit] = sorted(shuffled[n_dev:])
    return splits


class _CyclingPool:
    """Draws each digit's files in shuffled rounds, so every file is used before any repeats."""

    def __init__(self, files: Dict[int, List[int]], rng: random.Random) -> None:
        self._files, self._rng = files, rng
        self._queues: Dict[int, List[int]] = {d: [] for d in files}

    def draw(self, digit: int) -> int:
        if not self._queues[digit]:
            self._queues[digit] = list(self._files[digit])
            self._rng.shuffle(self._queues[digit])
        return self._queues[digit].pop()


def plan_speaker(split: str, speaker: str, files: Dict[int, List[int]], count: int, seed: int) -> List[DigitUtterance]:
    """``count`` utterances of one speaker, grouped into recordings."""
    rng = random.Random(f"fsdd/{seed}/{split}/{speaker}")
    pool = _CyclingPool(files, rng)
    planned: List[DigitUtterance] = []
    recording = 0
    while len(planned) < count:
        recid = f"{speaker}_{split}_r{recording:03d}"
        for index in range(min(rng.randint(*UTTERANCES_PER_RECORDING), count - len(planned))):
            digits = [rng.randrange(len(DIGIT_WORDS)) for _ in range(rng.randint(*DIGITS_PER_UTTERANCE))]
            sources = tuple((d, speaker, pool.draw(d)) for d in digits)
            pauses = [_samples(rng, EDGE_PAUSE_S)] + [_samples(rng, PAUSE_S) for _ in digits[1:]]
            pauses.append(_samples(rng, EDGE_PAUSE_S))
            planned.append(DigitUtterance(f"{recid}_{index:02d}", speaker, recid, index, sources, tuple(pauses)))
        recording += 1
    return planned


def _samples(rng: random.Random, bounds_s: Tuple[float, float]) -> int:
    return rng.randint(round(bounds_s[0] * FSDD_RATE), round(bounds_s[1] * FSDD_RATE))


def plan_corpus(
    fsdd_dir: Path, test_speaker: str, seed: int, counts: Dict[str, int]
) -> Dict[str, List[DigitUtterance]]:
    """Planned utterances per split (``counts`` = utterances per speaker)."""
    splits = split_sources(scan_fsdd(fsdd_dir), test_speaker, seed)
    return {split: [u for speaker, files in sorted(splits[split].items())
                    for u in plan_speaker(split, speaker, files, counts[split], seed)]
            for split in SPLITS}


@functools.lru_cache(maxsize=None)
def _read_source(path: Path) -> np.ndarray:
    audio, rate = soundfile.read(path, dtype="int16")
    if rate != FSDD_RATE or audio.ndim != 1:
        raise at(path, None, f"expected {FSDD_RATE} Hz mono, got {rate} Hz with shape {audio.shape}")
    return audio


def render(utterance: DigitUtterance, fsdd_dir: Path) -> np.ndarray:
    """The utterance's int16 samples: pause, digit, pause, ..., digit, pause."""
    chunks = [np.zeros(utterance.pauses[0], dtype=np.int16)]
    for source, pause in zip(utterance.sources, utterance.pauses[1:]):
        chunks.append(_read_source(fsdd_dir / "recordings" / source_name(source)))
        chunks.append(np.zeros(pause, dtype=np.int16))
    return np.concatenate(chunks)


def generate(fsdd_dir: Path, outdir: Path, audio_dir: Path, test_speaker: str, seed: int,
             counts: Dict[str, int], force: bool = False) -> bool:
    """Generate the corpus unless it is up to date; returns True when it was (re)generated."""
    fsdd_dir, audio_dir = fsdd_dir.resolve(), audio_dir.resolve()
    params = {"corpus": "fsdd_digits", "version": VERSION, "seed": seed, "counts": counts,
              "test_speaker": test_speaker, "fsdd_dir": str(fsdd_dir), "audio_dir": str(audio_dir)}
    if not force and is_up_to_date(outdir, params):
        logging.info("%s is up to date, skipping", outdir)
        return False
    for split, planned in plan_corpus(fsdd_dir, test_speaker, seed, counts).items():
        (audio_dir / split).mkdir(parents=True, exist_ok=True)
        wav_scp: Dict[str, str] = {}
        total = 0
        for u in planned:
            audio = render(u, fsdd_dir)
            wav_scp[u.uttid] = str(audio_dir / split / f"{u.uttid}.wav")
            soundfile.write(wav_scp[u.uttid], audio, FSDD_RATE, subtype="PCM_16", format="WAV")
            total += len(audio)
        utterances = [Utterance(u.uttid, u.speaker, u.recid, u.index, u.text) for u in planned]
        write_data_dir(outdir / split, utterances, wav_scp)
        logging.info("%s: %d utterances, %.3f h", split, len(planned), total / FSDD_RATE / 3600)
    write_stamp(outdir, params)
    return True


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build a connected-digit corpus from the Free Spoken Digit Dataset as Kaldi data dirs "
                    "<outdir>/{train,dev,test} (one whole speaker held out for test).",
    )
    parser.add_argument("--fsdd_dir", required=True, type=Path, help="FSDD root (with recordings/)")
    parser.add_argument("--outdir", required=True, type=Path, help="root of the data dirs")
    parser.add_argument("--audio_dir", required=True, type=Path, help="where the 8 kHz utterance wavs go")
    parser.add_argument("--test_speaker", default="nicolas", help="speaker held out as the test set")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", choices=sorted(SIZES), default="default",
                        help="utterances per speaker: default %s, tiny %s" % (SIZES["default"], SIZES["tiny"]))
    parser.add_argument("--force", action="store_true", help="regenerate even when up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    counts = dict(SIZES[args.size])
    generate(args.fsdd_dir, args.outdir, args.audio_dir, args.test_speaker, args.seed, counts, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
