"""Stage 2: speed perturbation of a data dir (Kaldi's ``perturb_data_dir_speed.sh``, without sox).

    python -m espnet2_ext.recipe.speed_perturb --factors "0.9 1.0 1.1" --fs 16000 \\
        data/train data/train_sp --audio_dir data/train_sp/audio [--nj 2]

For each factor f other than 1.0 the audio gets sox ``speed f`` semantics (tempo and pitch
change together): it is resampled with soxr from its rate to fs/f and the result is read as
fs, so its duration is divided by f. It is written as ``<audio_dir>/sp<f>-<recid>.flac``. The
ids of utterances, recordings and speakers get the prefix ``sp<f>-`` (e.g.
``sp0.9-train_r0001_003``), segment times are divided by f, and utt2rec/text/text.* are copied
under the new ids. Factor 1.0 keeps the original ids and audio. All factors are combined into
the destination dir. Audio already written is not computed again, so re-running gives the same
outputs.
"""

import argparse
import concurrent.futures
import logging
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import soundfile
import soxr

from espnet2_ext.errors import at, cli_entry
from espnet2_ext.kaldi_files import PathLike
from espnet2_ext.recipe.datadir import DataDir, Table, combine_datadirs, load_datadir, write_datadir
from espnet2_ext.recipe.format_audio import AudioReadError, load_audio, to_pcm_range

AUDIO_FORMAT = "flac"
PERTURBED_FILES = ("wav.scp", "segments", "utt2spk", "utt2rec")  # and text, text.*; spk2utt is regenerated


def _is_perturbed(name: str) -> bool:
    return name in PERTURBED_FILES or name == "text" or name.startswith("text.")


class AudioTask(NamedTuple):
    """Perturb the audio of one wav.scp entry (at wav_scp:lineno) by factor into output."""

    entry: str
    wav_scp: Path
    lineno: Optional[int]
    factor: float
    fs: int
    output: Path


def perturb_audio(task: AudioTask) -> bool:
    """Write the perturbed recording unless it exists; returns whether it was written."""
    if task.output.is_file():
        return False
    try:
        samples, rate = load_audio(task.entry)
    except AudioReadError as err:
        raise at(task.wav_scp, task.lineno, str(err)) from None
    perturbed = to_pcm_range(soxr.resample(samples, rate, task.fs / task.factor))
    partial = task.output.with_name(task.output.name + ".part")  # never leave a truncated file behind
    soundfile.write(partial, perturbed, task.fs, format=AUDIO_FORMAT.upper())
    partial.replace(task.output)
    return True


def _segment_times(factor: float, prefix: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        rec, start, end = value.split()
        return f"{prefix}{rec} {float(start) / factor:.3f} {float(end) / factor:.3f}"

    return convert


def perturbed_datadir(
    data: DataDir, factor_text: str, fs: int, audio_dir: Path
) -> Tuple[DataDir, List[AudioTask]]:
    """The data dir (PERTURBED_FILES only) with ``sp<f>-`` ids, and the tasks that make its audio."""
    factor = float(factor_text)
    if factor == 1.0:
        return data, []
    prefix = f"sp{factor_text}-"
    value_maps: Dict[str, Callable[[str], str]] = {
        "utt2spk": lambda spk: prefix + spk,
        "segments": _segment_times(factor, prefix),
        "utt2rec": lambda value: prefix + value,  # "recid index" -> "sp<f>-recid index"
    }
    wav_scp = data["wav.scp"]
    outputs = {rec: audio_dir / f"{prefix}{rec}.{AUDIO_FORMAT}" for rec in wav_scp.values}
    perturbed = {
        name: Table(table.path, {prefix + k: value_maps.get(name, str)(v) for k, v in table.values.items()})
        for name, table in data.items()
    }
    perturbed["wav.scp"] = Table(wav_scp.path, {prefix + rec: str(out) for rec, out in outputs.items()})
    tasks = [
        AudioTask(wav_scp.values[rec], wav_scp.path, wav_scp.linenos.get(rec), factor, fs, out)
        for rec, out in outputs.items()
    ]
    return perturbed, tasks


def _run_tasks(tasks: Sequence[AudioTask], nj: int) -> int:
    if nj <= 1:
        return sum(map(perturb_audio, tasks))
    with concurrent.futures.ProcessPoolExecutor(max_workers=nj) as pool:
        return sum(pool.map(perturb_audio, tasks, chunksize=max(1, len(tasks) // (4 * nj))))


def speed_perturb(
    src: PathLike, dst: PathLike, factors: Sequence[str], fs: int, audio_dir: PathLike, nj: int = 1
) -> DataDir:
    """Perturb src by every factor (as written, e.g. "0.9") and write the combined data dir to dst."""
    loaded = load_datadir(src, strict=False)
    ignored = [n for n in loaded if not _is_perturbed(n) and n != "spk2utt"]
    if ignored:
        logging.warning("%s: not perturbing %s", src, " ".join(ignored))
    data = {name: table for name, table in loaded.items() if _is_perturbed(name)}
    Path(audio_dir).mkdir(parents=True, exist_ok=True)
    parts, tasks = [], []
    for factor in factors:
        part, part_tasks = perturbed_datadir(data, factor, fs, Path(audio_dir))
        parts.append(part)
        tasks += part_tasks
    combined = combine_datadirs(parts, dst)
    written = _run_tasks(tasks, nj)
    write_datadir(dst, combined)
    logging.info(
        "%s: %d utterances for factors %s; wrote %d perturbed recordings (%d already there)",
        dst, len(combined["utt2spk"].values), " ".join(factors), written, len(tasks) - written,
    )
    return combined


def _parse_factors(text: str) -> List[str]:
    factors = text.split()
    try:
        values = [float(f) for f in factors]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if not factors or min(values) <= 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"expected distinct positive numbers: {text!r}")
    return factors


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Speed-perturb a Kaldi data dir (sox 'speed' semantics via soxr resampling); ids get "
        "the prefix sp<f>-, segment times are divided by f, factor 1.0 keeps the original.",
    )
    parser.add_argument("--factors", type=_parse_factors, default="0.9 1.0 1.1", help="space-separated factors")
    parser.add_argument("--fs", type=int, default=16000, help="sampling rate of the perturbed audio")
    parser.add_argument("--audio_dir", required=True, help="where the perturbed flac files go")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes")
    parser.add_argument("src", help="source data dir")
    parser.add_argument("dst", help="destination data dir (all factors combined)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    speed_perturb(args.src, args.dst, args.factors, args.fs, args.audio_dir, args.nj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
