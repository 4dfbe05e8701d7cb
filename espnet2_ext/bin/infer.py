"""Transcribe or classify audio files with a trained model: an exp dir, a packed zip, a model
repository tree (stage 15's, or a copy of a hub repository) or a hub id in the local cache.

    python -m espnet2_ext.bin.infer --model exp/asr_asr_train_asr a.wav b.flac
    python -m espnet2_ext.bin.infer --model exp/cls_sentiment_train_sentiment --wav_scp wav.scp
    python -m espnet2_ext.bin.infer --model model.zip a.wav
    python -m espnet2_ext.bin.infer --model exp/asr_asr_train_asr/hf_upload a.wav
    python -m espnet2_ext.bin.infer --model org/name a.wav   # hub id, after `hf download org/name
                                                              # --cache-dir ~/.cache/espnet_model_zoo`

Prints ``<id> <output>`` per input: the transcript for ASR models, plus the entities as
``TAG: phrase`` for NER models (entity-tagged transcripts), and the label for classifiers.
Audio of any sampling rate is resampled to 16 kHz (soxr); stereo is averaged to mono; a wav.scp
may name files, pipes (`cmd |`) or Kaldi ark offsets, as in stage 3.
An exp dir works from any working directory: its config names files (the upstream checkpoint,
normalisation statistics) relative to the recipe directory it was trained in, ESPnet's
``<recipe>/exp/<name>`` layout, so the model is built from there. A repository tree (the unzipped
pack beside a README.md) names its files in its ``meta.yaml`` relative to itself, so the model is
built from the tree. A hub id is looked up in the cache only, never on the network (as with
``HF_HUB_OFFLINE=1``): in ``--cachedir``, where espnet_model_zoo's ``ModelDownloader(cachedir)`` and
``hf download --cache-dir`` put hub snapshots.
"""

import argparse
import contextlib
import re
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import soxr
import yaml

from espnet2_ext import registration  # noqa: F401  (before building models)
from espnet2_ext.audio import RECEPTIVE_FIELD, SAMPLE_RATE
from espnet2_ext.corpora.slue_metrics import ner_words, parse_entities, strip_markup
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import read_map
from espnet2_ext.recipe import format_audio
from espnet2_ext.recipe.format_audio import AudioReadError

# Files in a packed zip (espnet2.bin.pack) per task: (config key, model key).
PACKED_KEYS = {
    "asr": ("asr_train_config", "asr_model_file"),
    "cls": ("classification_train_config", "classification_model_file"),
}
# The checkpoint the recipes decode with (their best_model_criterion).
DEFAULT_CHECKPOINT = {"asr": "valid.loss.ave.pth", "cls": "valid.acc.ave.pth"}
# A hub id, with an optional revision (espnet_model_zoo's "org/name@revision").
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+(@[\w./-]+)?")
# Hub snapshots and unpacked zips: espnet_model_zoo's own cache dir when its package dir is not
# writable (its default, the package dir, would put models inside the virtual environment).
DEFAULT_CACHEDIR = Path.home() / ".cache" / "espnet_model_zoo"


def load_audio(entry: str, where: str = "") -> np.ndarray:
    """Read a file (or a wav.scp value: a pipe, a Kaldi ark offset) as 16 kHz mono float32, with
    stage 3's checks (unreadable, empty, truncated, non-finite audio)."""
    try:
        samples, rate = format_audio.load_audio(entry)
    except AudioReadError as err:
        raise DataError(f"{where or entry}: {err}") from None
    mono = samples.mean(axis=1)
    mono = soxr.resample(mono, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else mono
    if len(mono) < RECEPTIVE_FIELD:
        raise DataError(f"{where or entry}: {1000 * len(mono) / SAMPLE_RATE:.1f} ms of audio is shorter than "
                        f"the upstream's receptive field ({1000 * RECEPTIVE_FIELD / SAMPLE_RATE:.0f} ms)")
    return mono


def cached_snapshot(hub_id: str, cachedir: Path) -> Path:
    """The snapshot dir of a hub id in the cache; nothing is downloaded."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_id, _, revision = hub_id.partition("@")
    try:
        return Path(snapshot_download(repo_id, revision=revision or None, cache_dir=cachedir,
                                      library_name="espnet", local_files_only=True))
    except (LocalEntryNotFoundError, ValueError):  # ValueError: an id the hub would refuse
        raise DataError(
            f"{hub_id}: no such file or directory, nor a hub model in the cache {cachedir} (this "
            f"command never downloads: `hf download {repo_id} --cache-dir {cachedir}` first)"
        ) from None


def locate(model: str, cachedir: Path) -> Path:
    """The local path of ``--model``: the path itself (absolute), or a hub id's cached snapshot."""
    path = Path(model)
    if path.exists() or not HUB_ID.fullmatch(model):
        return path.resolve()
    return cached_snapshot(model, cachedir)


def packed_model(files: Dict[str, str], where: Path) -> Tuple[str, Path, Path]:
    """(task, config, model file) of a pack's files by their meta.yaml keys."""
    for task, (config_key, model_key) in PACKED_KEYS.items():
        if config_key in files and model_key in files:
            return task, Path(files[config_key]), Path(files[model_key])
    raise DataError(f"{where}: packed model of an unsupported task ({sorted(files)})")


def tree_files(tree: Path) -> Dict[str, str]:
    """The files a repository tree's meta.yaml names, as paths in the tree. They are not resolved:
    in a hub snapshot they are links into the cache's blobs."""
    meta = tree / "meta.yaml"
    data = yaml.safe_load(meta.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("yaml_files"), dict):
        raise DataError(f"{meta}: not espnet2.bin.pack's meta.yaml (no yaml_files mapping)")
    named = {**data["yaml_files"], **(data.get("files") or {})}
    missing = [value for value in named.values() if not (tree / value).is_file()]
    if missing:
        raise DataError(f"{meta}: names files missing from {tree}: {', '.join(missing)}")
    return {key: str(tree / value) for key, value in named.items()}


def find_model(model: Path, checkpoint: Optional[str],
               cachedir: Path = DEFAULT_CACHEDIR) -> Tuple[str, Path, Path]:
    """Return (task, config, model file) for an exp dir, a packed zip or a repository tree."""
    if (model / "meta.yaml").is_file():
        return packed_model(tree_files(model), model / "meta.yaml")
    if model.is_dir():
        config = model / "config.yaml"
        if not config.is_file():
            raise DataError(f"{model}: not an exp dir (no config.yaml)")
        # ASRTask always writes ctc_conf; CLSTask has no CTC.
        task = "asr" if "ctc_conf" in yaml.safe_load(config.read_text()) else "cls"
        weights = model / (checkpoint or DEFAULT_CHECKPOINT[task])
        if not weights.exists():
            raise DataError(f"{model}: no checkpoint '{weights.name}' (see --checkpoint)")
        return task, config, weights
    if model.suffix == ".zip":
        from espnet_model_zoo.downloader import ModelDownloader

        files = ModelDownloader(cachedir=str(cachedir)).download_and_unpack(str(model))
        return packed_model(files, model)
    raise DataError(f"{model}: expected an exp dir, a packed .zip, a repository tree or a hub id")


def working_dir(model: Path) -> Path:
    """Where the files a model's config names are relative to (``model`` is absolute): a tree
    itself (its meta.yaml's paths are those of packing, relative to its root); the recipe dir of
    an exp dir ``<recipe>/exp/<name>``; a zip's unpacked config names absolute paths."""
    if (model / "meta.yaml").is_file():
        return model
    return model.parent.parent if model.is_dir() else Path.cwd()


def build_predictor(task: str, config: Path, weights: Path) -> Callable[[np.ndarray], str]:
    """A function from 16 kHz audio to the model's text output (transcript or label)."""
    if task == "asr":
        from espnet2.bin.asr_inference import Speech2Text

        from espnet2_ext.bin.asr_inference import with_greedy_ctc

        speech2text = with_greedy_ctc(Speech2Text)(
            asr_train_config=str(config), asr_model_file=str(weights), ctc_weight=1.0, lm_weight=0.0
        )
        return lambda audio: speech2text(audio)[0][0]
    from espnet2_ext.bin.cls_inference import Classification  # with the project's CLSTask

    classify = Classification(
        classification_train_config=str(config), classification_model_file=str(weights)
    )
    return lambda audio: classify(audio)[2]


def describe(text: str) -> str:
    """Append the entities of an entity-tagged transcript (a NER model's output)."""
    entities, _ = parse_entities(ner_words(text))
    if not entities:
        return text
    listed = "; ".join(f"{tag}: {phrase}" for tag, phrase in entities)
    return f"{strip_markup(ner_words(text))}  [{listed}]"


def inputs(wavs: Sequence[str], wav_scp: Optional[str]) -> Iterator[Tuple[str, np.ndarray]]:
    """Yield (id, audio) from file arguments, then from a wav.scp."""
    for wav in wavs:
        yield Path(wav).stem, load_audio(wav)
    if wav_scp:
        entries: Dict[str, str] = read_map(wav_scp)
        for lineno, (utt, entry) in enumerate(entries.items(), start=1):
            yield utt, load_audio(entry, where=f"{wav_scp}:{lineno}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True,
                        help="exp dir, packed .zip, repository tree (with meta.yaml) or cached hub id org/name")
    parser.add_argument("--cachedir", type=Path, default=DEFAULT_CACHEDIR,
                        help=f"where hub ids are looked up and zips unpacked (default: {DEFAULT_CACHEDIR})")
    parser.add_argument(
        "--checkpoint", default=None,
        help="checkpoint in the exp dir (default: valid.loss.ave.pth for ASR, valid.acc.ave.pth "
        "for classifiers)",
    )
    parser.add_argument("--wav_scp", help="Kaldi wav.scp of files to process")
    parser.add_argument("wavs", nargs="*", help="audio files")
    return parser


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.wavs and not args.wav_scp:
        build_parser().error("give audio files or --wav_scp")
    model = locate(args.model, args.cachedir)  # before the chdir below: relative to here
    task, config, weights = find_model(model, args.checkpoint, args.cachedir)
    # The model reads its files while it is built; the audio paths stay the caller's.
    with contextlib.chdir(working_dir(model)):
        predict = build_predictor(task, config, weights)
    for utt, audio in inputs(args.wavs, args.wav_scp):
        text = predict(audio)
        print(utt, describe(text) if task == "asr" else text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
