"""Stage 4: drop utterances that are too short, too long or have an empty transcript.

    python -m espnet2_ext.recipe.filter_data --min_wav_duration 0.1 --max_wav_duration 20 \\
        --fs 16000 [--text_files "text text.ner"] dump/raw/org/train dump/raw/train

Like ESPnet's asr.sh stage 4, an utterance is kept if ``int(min * fs) < num_samples <
int(max * fs)`` (from utt2num_samples) and its transcript is non-empty in every listed text
file. The output dir is then fixed (every per-utterance file holds the same utterances,
spk2utt is regenerated) and the counts per reason are logged. A ``neighbours/`` sub-directory
(segments that are only context of the utterances, from a corpus's full release) is copied as it
is: those segments are never training items, so no length limit applies to them.
"""

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Set

from espnet2_ext.errors import at, cli_entry
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR, PathLike
from espnet2_ext.recipe.datadir import DataDir, fix_tables, load_datadir, log_kept, write_datadir

COPIED_FILES = ("feats_type",)  # dump-dir files that are not keyed by utterance


def utterances_to_drop(
    data: DataDir, min_samples: int, max_samples: int, text_files: Sequence[str]
) -> Dict[str, Set[str]]:
    """Reason -> the utterances dropped for it (an utterance may have several reasons)."""
    if "utt2num_samples" not in data:
        raise at(data["wav.scp"].path.with_name("utt2num_samples"), None, "missing (format the audio first)")
    lengths = {utt: int(n) for utt, n in data["utt2num_samples"].values.items()}
    reasons = {
        f"too short (<= {min_samples} samples)": {u for u, n in lengths.items() if n <= min_samples},
        f"too long (>= {max_samples} samples)": {u for u, n in lengths.items() if n >= max_samples},
    }
    for name in text_files:
        if name not in data:
            raise at(data["wav.scp"].path.with_name(name), None, "text file to check is missing")
        reasons[f"empty {name}"] = {u for u, text in data[name].values.items() if not text}
    return reasons


def filter_dump_dir(
    src: PathLike,
    dst: PathLike,
    min_duration: float,
    max_duration: float,
    fs: int,
    text_files: Sequence[str] = ("text",),
) -> int:
    """Write the filtered and fixed copy of src to dst; returns the number of utterances kept."""
    data = load_datadir(src, strict=False)
    reasons = utterances_to_drop(data, int(min_duration * fs), int(max_duration * fs), text_files)
    fixed, dropped = fix_tables(data, exclude=set().union(*reasons.values()))
    dropped.pop("excluded", None)  # replaced by the reasons below
    dropped.update({reason: len(utts) for reason, utts in reasons.items() if utts})
    write_datadir(dst, fixed)
    if Path(src) != Path(dst):
        for name in COPIED_FILES:
            if (Path(src) / name).is_file():
                shutil.copyfile(Path(src) / name, Path(dst) / name)
        copy_neighbour_dir(Path(src), Path(dst))
    kept = len(fixed["utt2spk"].values)
    log_kept(dst, kept, dropped)
    return kept


def copy_neighbour_dir(src: Path, dst: Path) -> None:
    """``src/neighbours/`` to ``dst`` as it is, or, without one, none left in ``dst`` by an earlier run."""
    shutil.rmtree(dst / NEIGHBOUR_DIR, ignore_errors=True)
    if (src / NEIGHBOUR_DIR).is_dir():
        shutil.copytree(src / NEIGHBOUR_DIR, dst / NEIGHBOUR_DIR)


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Drop utterances outside a duration range (from utt2num_samples) or with an empty "
        "transcript, then make the dump dir consistent (ESPnet asr.sh stage 4).",
    )
    parser.add_argument("--min_wav_duration", type=float, default=0.1, help="seconds; this or shorter is dropped")
    parser.add_argument("--max_wav_duration", type=float, default=20.0, help="seconds; this or longer is dropped")
    parser.add_argument("--fs", type=int, default=16000, help="sampling rate of the dump dir's audio")
    parser.add_argument("--text_files", default="text", help="space-separated files whose text must not be empty")
    parser.add_argument("src", help="input dump dir")
    parser.add_argument("dst", help="output dump dir")
    args = parser.parse_args(argv)
    if args.min_wav_duration >= args.max_wav_duration:
        parser.error("--min_wav_duration must be less than --max_wav_duration")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    durations = args.min_wav_duration, args.max_wav_duration
    filter_dump_dir(args.src, args.dst, *durations, args.fs, args.text_files.split())
    return 0


if __name__ == "__main__":
    sys.exit(main())
