"""Kaldi data directories: validate, fix, combine, subset, and derive spk2utt.

Python replacements for Kaldi's ``utils/validate_data_dir.sh``, ``utils/fix_data_dir.sh``,
``utils/combine_data.sh``, ``utils/subset_data_dir.sh`` and ``utils/utt2spk_to_spk2utt.pl``.
Besides the standard files (wav.scp, text, utt2spk, spk2utt, segments) it knows this project's
``text.*`` alternative targets, the three-column neighbour map ``utt2rec`` and the dump dirs'
``utt2num_samples``.

    python -m espnet2_ext.recipe.datadir validate data/train [--no_audio_check]
    python -m espnet2_ext.recipe.datadir fix data/train
    python -m espnet2_ext.recipe.datadir combine data/all data/a data/b
    python -m espnet2_ext.recipe.datadir subset [--first] data/train 300 data/train_300
"""

import argparse
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import soundfile

from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import PathLike, iter_lines, write_map


# How far (seconds) a segment may end after its recording: segment times are rounded when
# written, and resampled or speed-perturbed audio may be a few samples shorter.
SEGMENT_END_TOLERANCE = 0.05

# Fixed number of fields after the id; files not listed here hold free text after the id.
_VALUE_FIELDS = {"utt2spk": 1, "segments": 3, "utt2rec": 2, "utt2num_samples": 1}
# What an empty value means, for the error message; files absent here may not be empty.
_EMPTY_VALUE_NAMES = {"text": "transcript", "wav.scp": "audio entry", "spk2utt": "utterance list"}
REQUIRED_FILES = ("wav.scp", "utt2spk")

_ARK_WITH_OFFSET = re.compile(r"^(.+):\d+$")


@dataclass
class Table:
    """One ``key value`` file: its values and, when read from disk, each key's line number."""

    path: Path
    values: Dict[str, str] = field(default_factory=dict)
    linenos: Dict[str, int] = field(default_factory=dict)

    def error(self, key: Optional[str], message: str) -> DataError:
        return at(self.path, self.linenos.get(key) if key else None, message)

    def subset(self, keys: Iterable[str]) -> "Table":
        keep = [k for k in keys if k in self.values]
        linenos = {k: self.linenos[k] for k in keep if k in self.linenos}
        return Table(self.path, {k: self.values[k] for k in keep}, linenos)


DataDir = Dict[str, Table]


def is_pipe(entry: str) -> bool:
    """Whether a wav.scp value is a command whose stdout is the audio (Kaldi ``cmd |``)."""
    return entry.rstrip().endswith("|")


def ark_file(entry: str) -> Optional[str]:
    """The ark file of a Kaldi ``foo.ark:1234`` (file and byte offset) entry; None otherwise."""
    match = _ARK_WITH_OFFSET.match(entry)
    return match.group(1) if match and not Path(entry).exists() else None


def _kind(name: str) -> str:
    """``text.ner`` and ``text.sentiment`` follow the rules of ``text``."""
    return "text" if name.startswith("text.") else name


def read_table(path: PathLike, strict: bool = True, kind: Optional[str] = None) -> Table:
    """Read one data-dir file, checking its line format and duplicate ids.

    strict: also require C-locale sorted ids and non-empty values (``validate``); ``fix`` reads
    non-strictly because it re-sorts, and empty transcripts are for ``filter_data`` to drop.
    kind: which file's rules apply (default: from the file name), e.g. "segments" for a shard.
    """
    path = Path(path)
    kind = kind or _kind(path.name)
    n_fields = _VALUE_FIELDS.get(kind)
    table = Table(path)
    previous = None
    for lineno, key, value in iter_lines(path):
        if not key or any(c.isspace() for c in key):
            raise at(path, lineno, f"malformed line: no id before the first space in {key + ' ' + value!r}")
        n_found = len(value.split()) + 1
        if n_fields is not None and n_found != n_fields + 1:
            raise at(path, lineno, f"malformed line: expected {n_fields + 1} fields, found {n_found}")
        if not value and (strict or kind != "text"):
            raise at(path, lineno, f"empty {_EMPTY_VALUE_NAMES.get(kind, 'value')} for '{key}'")
        if key in table.values:
            raise at(path, lineno, f"duplicate id '{key}'")
        if strict and previous is not None and key < previous:
            raise at(path, lineno, f"not sorted: '{key}' comes after '{previous}' (use `datadir fix` to sort)")
        _check_fields(path, lineno, kind, key, value.split())
        table.values[key] = value
        table.linenos[key] = lineno
        previous = key
    return table


def _check_fields(path: Path, lineno: int, kind: str, key: str, fields: List[str]) -> None:
    """Type checks for the files with numeric columns."""
    numeric = {"segments": fields[1:], "utt2rec": fields[1:], "utt2num_samples": fields}.get(kind, [])
    try:
        numbers = [float(x) if kind == "segments" else int(x) for x in numeric]
    except ValueError:
        raise at(path, lineno, f"malformed line: non-numeric field in '{key} {' '.join(fields)}'") from None
    if kind == "segments" and not 0 <= numbers[0] < numbers[1]:
        raise at(path, lineno, f"bad times for '{key}': start {fields[1]} must be >= 0 and < end {fields[2]}")
    if kind != "segments" and any(n < 0 for n in numbers):
        raise at(path, lineno, f"negative number for '{key}'")


def data_file_names(directory: PathLike) -> List[str]:
    """The data-dir files present in directory, in the order they are checked."""
    directory = Path(directory)
    alternatives = sorted(p.name for p in directory.glob("text.*") if p.is_file())
    ordered = ["wav.scp", "segments", "utt2spk", "spk2utt", "text", *alternatives, "utt2rec", "utt2num_samples"]
    return [name for name in ordered if (directory / name).is_file()]


def load_datadir(directory: PathLike, strict: bool = True) -> DataDir:
    """Read every data-dir file present; wav.scp and utt2spk are required."""
    directory = Path(directory)
    if not directory.is_dir():
        raise at(directory, None, "data directory does not exist")
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            raise at(directory / name, None, "required file is missing")
    return {name: read_table(directory / name, strict) for name in data_file_names(directory)}


def per_utterance_files(data: DataDir) -> List[str]:
    """Files keyed by utterance id; wav.scp is keyed by recording when segments exist."""
    return [n for n in data if n != "spk2utt" and not (n == "wav.scp" and "segments" in data)]


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> Dict[str, List[str]]:
    """Speaker -> its utterances, in the order of utt2spk (Kaldi's utt2spk_to_spk2utt.pl)."""
    spk2utt: Dict[str, List[str]] = {}
    for utt, spk in utt2spk.items():
        spk2utt.setdefault(spk, []).append(utt)
    return spk2utt


def write_datadir(directory: PathLike, data: DataDir) -> None:
    """Write every table sorted, and spk2utt derived from utt2spk."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in data.items():
        if name != "spk2utt":
            write_map(directory / name, table.values)
    utt2spk = {k: data["utt2spk"].values[k] for k in sorted(data["utt2spk"].values)}
    write_map(directory / "spk2utt", {s: " ".join(u) for s, u in utt2spk_to_spk2utt(utt2spk).items()})


# ------------------------------------------------------------------------------------ validate


def validate(directory: PathLike, audio_check: bool = True) -> Dict[str, int]:
    """Raise a DataError naming file and line for the first problem; return counts if OK."""
    data = load_datadir(directory, strict=True)
    utt2spk = data["utt2spk"]
    for name in per_utterance_files(data):
        _check_same_keys(data[name], utt2spk)
    _check_spk2utt(data, utt2spk)
    _warn_speaker_prefix(utt2spk)
    if "segments" in data:
        _check_segment_recordings(data["segments"], data["wav.scp"])
    if "utt2rec" in data:
        _check_unique_neighbour_index(data["utt2rec"])
    if audio_check:
        durations = {rec: _audio_duration(data["wav.scp"], rec) for rec in data["wav.scp"].values}
        if "segments" in data:
            _check_segment_ends(data["segments"], durations)
    summary = {
        "utterances": len(utt2spk.values),
        "speakers": len(set(utt2spk.values.values())),
        "recordings": len(data["wav.scp"].values),
    }
    logging.info(
        "%s: OK, %s%s", directory, ", ".join(f"{v} {k}" for k, v in summary.items()),
        "" if audio_check else " (audio not checked)",
    )
    return summary


def _check_same_keys(table: Table, utt2spk: Table) -> None:
    for key in table.values:
        if key not in utt2spk.values:
            raise table.error(key, f"'{key}' is not in {utt2spk.path.name}")
    for key in utt2spk.values:
        if key not in table.values:
            where = f"{utt2spk.path}:{utt2spk.linenos[key]}"
            raise at(table.path, None, f"no entry for '{key}' (listed at {where})")


def _check_spk2utt(data: DataDir, utt2spk: Table) -> None:
    if "spk2utt" not in data:
        raise at(utt2spk.path.with_name("spk2utt"), None, "missing (use `datadir fix` to create it)")
    spk2utt = data["spk2utt"]
    expected = utt2spk_to_spk2utt(utt2spk.values)
    for spk, utts in spk2utt.values.items():
        if utts.split() != expected.get(spk, []):
            raise spk2utt.error(
                spk, f"utterances of '{spk}' do not match utt2spk: expected '{_preview(expected.get(spk, []))}'"
            )
    for spk in expected:
        if spk not in spk2utt.values:
            raise at(spk2utt.path, None, f"speaker '{spk}' of utt2spk is missing")


def _preview(items: Sequence[str], limit: int = 5) -> str:
    return " ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def _warn_speaker_prefix(utt2spk: Table) -> None:
    unprefixed = [u for u, s in utt2spk.values.items() if not u.startswith(s)]
    if unprefixed:
        logging.warning(
            "%s: %d utterance ids do not start with their speaker id (e.g. '%s' of '%s'); "
            "Kaldi-style sorting by utterance then does not keep speakers together",
            utt2spk.path, len(unprefixed), unprefixed[0], utt2spk.values[unprefixed[0]],
        )


def _check_segment_recordings(segments: Table, wav_scp: Table) -> None:
    used = set()
    for utt, value in segments.values.items():
        rec = value.split()[0]
        if rec not in wav_scp.values:
            raise segments.error(utt, f"unknown recording '{rec}' (not in {wav_scp.path.name})")
        used.add(rec)
    unused = [rec for rec in wav_scp.values if rec not in used]
    if unused:
        logging.warning("%s: %d recordings have no segments (e.g. '%s')", wav_scp.path, len(unused), unused[0])


def _check_unique_neighbour_index(utt2rec: Table) -> None:
    owner: Dict[Tuple[str, str], str] = {}
    for utt, value in utt2rec.values.items():
        rec, index = value.split()
        if (rec, index) in owner:
            other = owner[rec, index]
            raise utt2rec.error(utt, f"index {index} of recording '{rec}' is also used by '{other}'")
        owner[rec, index] = utt


def _audio_duration(wav_scp: Table, rec: str) -> Optional[float]:
    """Duration in seconds of a file entry; None for pipes and Kaldi ark offsets (not opened)."""
    entry = wav_scp.values[rec]
    if is_pipe(entry):
        return None
    ark = ark_file(entry)
    if ark is not None:
        if not Path(ark).is_file():
            raise wav_scp.error(rec, f"ark file '{ark}' does not exist")
        return None
    if not Path(entry).is_file():
        raise wav_scp.error(rec, f"audio file '{entry}' does not exist")
    try:
        with soundfile.SoundFile(entry) as audio:
            frames, rate = audio.frames, audio.samplerate
            check_complete(audio)
    except Exception as err:  # libsndfile reports corrupt files with various exception types
        raise wav_scp.error(rec, f"cannot read audio '{entry}': {err}") from None
    if frames <= 0:
        raise wav_scp.error(rec, f"empty audio '{entry}' (0 samples)")
    return frames / rate


def check_complete(audio: soundfile.SoundFile) -> None:
    """Refuse a file shorter than its header says (an interrupted copy): libsndfile reads it up to
    its end and says so only in its log, e.g. ``data : 32000 (should be 100)``."""
    found = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", audio.extra_info, re.MULTILINE)
    if found:
        declared, present = found.groups()
        raise ValueError(f"truncated file: its header declares {declared} bytes of audio, it holds {present}")


def _check_segment_ends(segments: Table, durations: Mapping[str, Optional[float]]) -> None:
    for utt, value in segments.values.items():
        rec, _, end = value.split()
        duration = durations[rec]
        if duration is not None and float(end) > duration + SEGMENT_END_TOLERANCE:
            raise segments.error(utt, f"end time {end} is after the end of '{rec}' ({duration:.3f} s)")


# ----------------------------------------------------------------------------------------- fix


def fix_tables(data: DataDir, exclude: Iterable[str] = ()) -> Tuple[DataDir, Counter]:
    """Keep the utterances found in every per-utterance file (and not excluded).

    Returns the reduced tables (spk2utt dropped: write_datadir regenerates it) and, per
    reason, how many utterances were dropped.
    """
    names = per_utterance_files(data)
    candidates = set().union(*(data[n].values for n in names))
    dropped: Counter = Counter()
    keep = set(candidates)
    for name in names:
        missing = candidates - data[name].values.keys()
        dropped[f"not in {name}"] = len(missing)
        keep -= missing
    if "segments" in data:
        no_recording = {u for u in keep if data["segments"].values[u].split()[0] not in data["wav.scp"].values}
        dropped["recording not in wav.scp"] = len(no_recording)
        keep -= no_recording
    excluded = keep.intersection(exclude)
    dropped["excluded"] = len(excluded)
    keep -= excluded
    fixed = {name: data[name].subset(sorted(keep)) for name in names}
    if "segments" in data:
        recordings = {fixed["segments"].values[u].split()[0] for u in keep}
        fixed["wav.scp"] = data["wav.scp"].subset(sorted(recordings))
    return fixed, +dropped


def fix(directory: PathLike) -> int:
    """Kaldi fix_data_dir.sh: make all files consistent and sorted; return the utterances kept."""
    data = load_datadir(directory, strict=False)
    fixed, dropped = fix_tables(data)
    write_datadir(directory, fixed)
    kept = len(fixed["utt2spk"].values)
    log_kept(directory, kept, dropped)
    return kept


def log_kept(directory: PathLike, kept: int, dropped: Mapping[str, int]) -> None:
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items())) or "none dropped"
    logging.info("%s: kept %d utterances (%s)", directory, kept, reasons)


def subset_datadir(data: DataDir, num_utts: int, first: bool = False) -> DataDir:
    """Kaldi subset_data_dir.sh: ``num_utts`` utterances spread evenly over the sorted ids (so every
    speaker of a speaker-prefixed corpus keeps its share), or the first ``num_utts`` with
    ``first``; every per-utterance file keeps those, wav.scp the recordings they use."""
    utts = sorted(data["utt2spk"].values)
    if not 0 < num_utts <= len(utts):
        raise data["utt2spk"].error(None, f"cannot take {num_utts} of its {len(utts)} utterances")
    keep = utts[:num_utts] if first else [utts[i * len(utts) // num_utts] for i in range(num_utts)]
    return fix_tables(data, exclude=set(utts) - set(keep))[0]


# ------------------------------------------------------------------------------------- combine


def combine_datadirs(sources: Sequence[DataDir], destination: PathLike) -> DataDir:
    """Concatenate data dirs (Kaldi combine_data.sh); a repeated id is an error.

    Only files that every source has are combined. A recording listed by several sources with
    the same entry is allowed in a segmented wav.scp (sources may share recordings). When some
    sources have segments and others not, each utterance of the latter becomes one segment of
    its whole recording, as combine_data.sh does (here with the file's duration as end time).
    """
    if any("segments" in s for s in sources):
        sources = [s if "segments" in s else with_whole_segments(s) for s in sources]
    common = [n for n in sources[0] if n != "spk2utt" and all(n in s for s in sources)]
    skipped = {n for s in sources for n in s} - set(common) - {"spk2utt"}
    if skipped:
        names = ", ".join(sorted(skipped))
        logging.warning("%s: not combining %s (missing in some sources)", destination, names)
    segmented = "segments" in sources[0]
    return {name: combine_tables([s[name] for s in sources], Path(destination) / name, segmented) for name in common}


def with_whole_segments(data: DataDir) -> DataDir:
    """An unsegmented data dir with ``segments``: each utterance its whole recording (same id)."""
    wav_scp = data["wav.scp"]
    segments = Table(wav_scp.path.with_name("segments"))
    for utt in wav_scp.values:
        duration = _audio_duration(wav_scp, utt)
        if duration is None:
            raise wav_scp.error(utt, "cannot give a pipe or ark entry a segment (its duration is unknown)")
        segments.values[utt] = f"{utt} 0.000 {duration:.3f}"
    return {**data, "segments": segments}


def combine_tables(tables: Sequence[Table], path: Path, segmented: bool = False) -> Table:
    """Concatenate tables into one written to path; see combine_datadirs for duplicates."""
    combined = Table(path)
    origin: Dict[str, Table] = {}
    for table in tables:
        for key, value in table.values.items():
            shared_recording = segmented and path.name == "wav.scp" and combined.values.get(key) == value
            if key in combined.values and not shared_recording:
                raise table.error(key, f"duplicate id '{key}' (also in {origin[key].path})")
            combined.values[key] = value
            origin[key] = table
    return combined


# ----------------------------------------------------------------------------------------- CLI


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "validate":
        validate(args.dir, audio_check=not args.no_audio_check)
    elif args.command == "fix":
        fix(args.dir)
    elif args.command == "combine":
        sources = [load_datadir(s, strict=False) for s in args.src]
        combined = combine_datadirs(sources, args.dst)
        write_datadir(args.dst, combined)
        n_utts = len(combined["utt2spk"].values)
        logging.info("%s: combined %d utterances from %d dirs", args.dst, n_utts, len(sources))
    elif args.command == "subset":
        write_datadir(args.dst, subset_datadir(load_datadir(args.src), args.num_utts, args.first))
        logging.info("%s: %d utterances of %s", args.dst, args.num_utts, args.src)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Validate, fix, combine and subset Kaldi data directories (wav.scp, text, text.*, utt2spk, "
        "spk2utt, segments, utt2rec, utt2num_samples).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="report the first problem as file:line (exit 1) or a summary (exit 0)")
    p.add_argument("dir")
    p.add_argument("--no_audio_check", action="store_true", help="do not open the audio files")
    p = sub.add_parser("fix", help="keep utterances present in every file, sort, regenerate spk2utt")
    p.add_argument("dir")
    p = sub.add_parser("combine", help="concatenate data dirs into dst (duplicate ids are errors)")
    p.add_argument("dst")
    p.add_argument("src", nargs="+")
    p = sub.add_parser("subset", help="num_utts utterances of src, evenly spread over its sorted ids, into dst")
    p.add_argument("src")
    p.add_argument("num_utts", type=int)
    p.add_argument("dst")
    p.add_argument("--first", action="store_true", help="the first num_utts instead")
    return parser


if __name__ == "__main__":
    sys.exit(main())
