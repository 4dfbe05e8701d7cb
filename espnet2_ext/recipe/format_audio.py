"""Stage 3: format audio into a dump dir (ESPnet's ``format_wav_scp.py``, without resampy).

One shard (the template splits wav.scp, or segments, into nj parts and runs each with the job
runner)::

    python -m espnet2_ext.recipe.format_audio --fs 16000 --audio_format flac \\
        [--segments segments.1] wav.1.scp <outdir>

reads every entry (a file, a ``cmd |`` pipe or a Kaldi ``foo.ark:123`` offset), cuts the
segments, downmixes to mono, resamples with soxr to ``--fs`` and writes
``<outdir>/data/<uttid>.<format>``, ``<outdir>/wav.scp`` and ``<outdir>/utt2num_samples``.
Then::

    python -m espnet2_ext.recipe.format_audio merge <dump_dir> <outdir1> <outdir2> ...
    python -m espnet2_ext.recipe.format_audio copy-meta <data_dir> <dump_dir>

concatenate the shards' wav.scp/utt2num_samples (sorted) and copy the per-utterance metadata
(text, text.*, utt2spk, spk2utt, utt2rec) and write ``feats_type`` ("raw").
"""

import argparse
import functools
import io
import logging
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import kaldiio
import numpy as np
import soundfile
import soxr
from espnet2.fileio.sound_scp import SoundScpWriter

from espnet2_ext.errors import cli_entry
from espnet2_ext.recipe.datadir import (
    SEGMENT_END_TOLERANCE,
    Table,
    ark_file,
    check_complete,
    combine_tables,
    data_file_names,
    is_pipe,
    read_table,
)
from espnet2_ext.kaldi_files import PathLike, write_map

Audio = Tuple[np.ndarray, int]  # samples (frames, channels), sampling rate
METADATA_EXCLUDED = ("wav.scp", "segments", "utt2num_samples")  # describe the audio, not the utterance


class AudioReadError(Exception):
    """An audio entry that cannot be read; callers add the file and line."""


def _read_pipe(command: str) -> bytes:
    pipe = kaldiio.open_like_kaldi(command, "rb")
    data = pipe.read()
    status = pipe.close()  # os.popen convention: None on success, exit code << 8 otherwise
    if status:
        raise AudioReadError(f"command '{command}' failed with exit code {status >> 8}")
    if not data:
        raise AudioReadError(f"command '{command}' wrote no audio")
    return data


def _read_ark(entry: str) -> Audio:
    loaded = kaldiio.load_mat(entry)
    if not isinstance(loaded, tuple):
        raise AudioReadError(f"'{entry}' holds a feature matrix, not audio")
    rate, samples = loaded
    if np.issubdtype(samples.dtype, np.integer):  # kaldi wav arks hold int16 samples
        samples = samples.astype(np.float32) / 32768
    return np.asarray(samples, dtype=np.float32).reshape(len(samples), -1), rate


def load_audio(entry: str) -> Audio:
    """Read a wav.scp value; returns float32 samples shaped (frames, channels) and the rate."""
    try:
        if is_pipe(entry):
            source: Union[str, io.BytesIO] = io.BytesIO(_read_pipe(entry))
        elif Path(entry).is_file():
            source = entry
        elif ark_file(entry) is not None:
            return _read_ark(entry)
        else:
            raise AudioReadError(f"audio file '{entry}' does not exist")
        with soundfile.SoundFile(source) as audio:
            check_complete(audio)
            samples, rate = audio.read(dtype="float32", always_2d=True), audio.samplerate
    except AudioReadError:
        raise
    except Exception as err:  # libsndfile and kaldiio report corrupt data with various types
        raise AudioReadError(f"cannot read audio '{entry}': {err}") from None
    if len(samples) == 0:
        raise AudioReadError(f"empty audio '{entry}' (0 samples)")
    if not np.isfinite(samples).all():  # float files may hold NaN/Inf: every loss would become NaN
        raise AudioReadError(f"audio '{entry}' has non-finite samples (NaN or Inf)")
    return samples, rate


def load_table_audio(table: Table, key: str) -> Audio:
    """load_audio for one wav.scp entry, with errors naming the wav.scp line."""
    try:
        return load_audio(table.values[key])
    except AudioReadError as err:
        raise table.error(key, str(err)) from None


def to_pcm_range(samples: np.ndarray) -> np.ndarray:
    """Clip to [-1, 1]: resampling may overshoot, and libsndfile wraps around on integer overflow."""
    return np.clip(samples, -1.0, 1.0)


def _cut_segment(segments: Table, utt: str, samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples of one segment; times are rounded to the nearest sample."""
    rec, start, end = segments.values[utt].split()
    first, last = round(float(start) * rate), round(float(end) * rate)
    if first >= len(samples) or last > len(samples) + round(SEGMENT_END_TOLERANCE * rate):
        duration = len(samples) / rate
        raise segments.error(utt, f"segment {start}-{end} s is outside '{rec}' ({duration:.3f} s long)")
    if min(last, len(samples)) <= first:
        raise segments.error(utt, f"segment {start}-{end} s has no samples at {rate} Hz")
    return samples[first:last]


def _utterances(wav_scp: Table, segments: Optional[Table]) -> List[Tuple[str, Callable[[], Audio]]]:
    """(uttid, loader) pairs; segments of one recording reuse its audio (they are usually adjacent)."""
    if segments is None:
        return [(utt, functools.partial(load_table_audio, wav_scp, utt)) for utt in wav_scp.values]
    load_recording = functools.lru_cache(maxsize=1)(functools.partial(load_table_audio, wav_scp))

    def load_segment(utt: str) -> Audio:
        rec = segments.values[utt].split()[0]
        if rec not in wav_scp.values:
            raise segments.error(utt, f"unknown recording '{rec}' (not in {wav_scp.path})")
        samples, rate = load_recording(rec)
        return _cut_segment(segments, utt, samples, rate), rate

    return [(utt, functools.partial(load_segment, utt)) for utt in segments.values]


def format_shard(
    wav_scp: PathLike,
    outdir: PathLike,
    fs: int,
    audio_format: str = "flac",
    segments: Optional[PathLike] = None,
) -> int:
    """Format one shard into outdir (see the module doc); returns the number of utterances."""
    outdir = Path(outdir)
    wav_table = read_table(wav_scp, strict=False, kind="wav.scp")
    segments_table = read_table(segments, strict=False, kind="segments") if segments else None
    # ESPnet's own writer, so that file names and wav.scp lines are those of its format_wav_scp.py
    writer = SoundScpWriter(outdir / "data", outdir / "wav.scp", format=audio_format)
    num_samples: Dict[str, str] = {}
    try:
        for utt, load in _utterances(wav_table, segments_table):
            samples, rate = load()
            mono = samples.mean(axis=1)
            if rate != fs:
                mono = soxr.resample(mono, rate, fs)
            writer[utt] = fs, to_pcm_range(mono)
            num_samples[utt] = str(len(mono))
    finally:
        writer.close()
    write_map(outdir / "utt2num_samples", num_samples)
    logging.info("%s: formatted %d utterances at %d Hz (%s)", outdir, len(num_samples), fs, audio_format)
    return len(num_samples)


def merge_shards(dump_dir: PathLike, shard_dirs: Sequence[PathLike]) -> int:
    """Concatenate the shards' wav.scp and utt2num_samples into dump_dir (sorted)."""
    dump_dir = Path(dump_dir)
    for name in ("wav.scp", "utt2num_samples"):
        tables = [read_table(Path(d) / name, strict=False) for d in shard_dirs]
        merged = combine_tables(tables, dump_dir / name).values
        write_map(dump_dir / name, merged)
    logging.info("%s: merged %d utterances from %d shards", dump_dir, len(merged), len(shard_dirs))
    return len(merged)


def copy_metadata(data_dir: PathLike, dump_dir: PathLike) -> List[str]:
    """Copy the per-utterance files of data_dir into dump_dir and mark it ``feats_type raw``."""
    dump_dir = Path(dump_dir)
    dump_dir.mkdir(parents=True, exist_ok=True)
    copied = [n for n in data_file_names(data_dir) if n not in METADATA_EXCLUDED]
    for name in copied:
        shutil.copyfile(Path(data_dir) / name, dump_dir / name)
    (dump_dir / "feats_type").write_text("raw\n", encoding="utf-8")
    logging.info("%s: copied %s from %s", dump_dir, " ".join(copied), data_dir)
    return copied


# ----------------------------------------------------------------------------------------- CLI


def _shard_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Format one wav.scp shard: read (file, pipe or ark), cut segments, downmix to mono, "
        "resample with soxr, write <outdir>/data/<uttid>.<format>, <outdir>/wav.scp, <outdir>/utt2num_samples. "
        "Other forms: 'merge <dump_dir> <outdir>...' and 'copy-meta <data_dir> <dump_dir>' (see their --help).",
    )
    parser.add_argument("--fs", type=int, default=16000, help="output sampling rate")
    parser.add_argument("--audio_format", choices=("flac", "wav"), default="flac")
    parser.add_argument("--segments", help="'uttid recid start end' file; wav.scp then lists recordings")
    parser.add_argument("wav_scp")
    parser.add_argument("outdir")
    return parser


def _merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="format_audio merge", description="Concatenate formatted shards' wav.scp and utt2num_samples."
    )
    parser.add_argument("dump_dir")
    parser.add_argument("shard_dirs", nargs="+")
    return parser


def _meta_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="format_audio copy-meta",
        description="Copy text, text.*, utt2spk, spk2utt, utt2rec into the dump dir and write feats_type.",
    )
    parser.add_argument("data_dir")
    parser.add_argument("dump_dir")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv[:1] == ["merge"]:
        args = _merge_parser().parse_args(argv[1:])
        merge_shards(args.dump_dir, args.shard_dirs)
    elif argv[:1] == ["copy-meta"]:
        args = _meta_parser().parse_args(argv[1:])
        copy_metadata(args.data_dir, args.dump_dir)
    else:
        args = _shard_parser().parse_args(argv)
        format_shard(args.wav_scp, args.outdir, args.fs, args.audio_format, args.segments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
