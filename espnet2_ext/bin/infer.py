"""Transcribe or classify audio files with a trained model (an exp dir or a packed zip).

    python -m espnet2_ext.bin.infer --model exp/asr_asr_train_asr a.wav b.flac
    python -m espnet2_ext.bin.infer --model exp/cls_sentiment_train_sentiment --wav_scp wav.scp
    python -m espnet2_ext.bin.infer --model model.zip a.wav

Prints ``<id> <output>`` per input: the transcript for ASR models, plus the entities as
``TAG: phrase`` for NER models (entity-tagged transcripts), and the label for classifiers.
Audio of any sampling rate is resampled to 16 kHz (soxr); stereo is averaged to mono.
An exp dir works from any working directory: its config names files (the upstream checkpoint,
normalisation statistics) relative to the recipe directory it was trained in, ESPnet's
``<recipe>/exp/<name>`` layout, so the model is built from there.
"""

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import soundfile
import soxr
import yaml

from espnet2_ext import registration  # noqa: F401  (before building models)
from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.corpora.slue_metrics import ner_words, parse_entities, strip_markup
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import read_map

# Files in a packed zip (espnet2.bin.pack) per task: (config key, model key).
PACKED_KEYS = {
    "asr": ("asr_train_config", "asr_model_file"),
    "cls": ("classification_train_config", "classification_model_file"),
}
# The checkpoint the recipes decode with (their best_model_criterion).
DEFAULT_CHECKPOINT = {"asr": "valid.loss.ave.pth", "cls": "valid.acc.ave.pth"}


def load_audio(path: str, where: str = "") -> np.ndarray:
    """Read a file as 16 kHz mono float32."""
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as err:  # soundfile raises LibsndfileError (a RuntimeError)
        raise DataError(f"{where or path}: cannot read audio '{path}': {err}") from err
    if samples.shape[0] == 0:
        raise DataError(f"{where or path}: '{path}' has no samples")
    mono = samples.mean(axis=1)
    return soxr.resample(mono, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else mono


def find_model(model: Path, checkpoint: Optional[str]) -> Tuple[str, Path, Path]:
    """Return (task, config, model file) for an exp dir or a packed zip."""
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

        cache = Path.home() / ".cache" / "espnet2_ext"
        files = ModelDownloader(cachedir=str(cache)).download_and_unpack(str(model))
        for task, (config_key, model_key) in PACKED_KEYS.items():
            if config_key in files:
                return task, Path(files[config_key]), Path(files[model_key])
        raise DataError(f"{model}: packed model of an unsupported task ({sorted(files)})")
    raise DataError(f"{model}: expected an exp dir or a packed .zip")


def recipe_dir(model: Path) -> Path:
    """Where the files an exp dir's config names are relative to (``model`` is absolute): the
    recipe dir of ``<recipe>/exp/<name>``; a packed model names its own unpacked files."""
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
        for lineno, (utt, path) in enumerate(entries.items(), start=1):
            if path.endswith("|"):
                raise at(wav_scp, lineno, "pipe entries are not supported here; format the data first")
            yield utt, load_audio(path, where=f"{wav_scp}:{lineno}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="exp dir or packed .zip")
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
    model = args.model.resolve()  # before the chdir below: a relative --model names it from here
    task, config, weights = find_model(model, args.checkpoint)
    # The model reads its files while it is built; the audio paths stay the caller's.
    with contextlib.chdir(recipe_dir(model)):
        predict = build_predictor(task, config, weights)
    for utt, audio in inputs(args.wavs, args.wav_scp):
        text = predict(audio)
        print(utt, describe(text) if task == "asr" else text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
