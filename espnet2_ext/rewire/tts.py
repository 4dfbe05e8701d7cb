"""Neutral TTS positives for rewiring: every transcript of a data dir spoken by one neutral voice.

    python -m espnet2_ext.rewire.tts dump/raw/train    # -> dump/raw/train/neutral/*.wav, neutral.scp

The paper synthesised with Festival's default voice (``text2wave``); eSpeak NG is what this project
already ships (``espeakng-loader``), so its plain ``en-us`` voice at its default rate, pitch and
range is the neutral voice here: one voice, no variant, the same prosody for every sentence.
Synthesis happens once per data dir and is reused by every epoch and run; a rerun skips the files
already written (each is written atomically), so an interrupted run resumes.
"""

import argparse
import logging
from pathlib import Path
from typing import Optional, Sequence

import soundfile

from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.corpora.espeak import EspeakSynthesizer
from espnet2_ext.errors import cli_entry
from espnet2_ext.kaldi_files import replaced_atomically, write_map
from espnet2_ext.recipe.datadir import Table, read_table

NEUTRAL_VOICE = "en-us"
# eSpeak NG's defaults (words per minute, pitch and pitch range on its 0-100 scales).
NEUTRAL_PROSODY = dict(rate_wpm=175, pitch=50, pitch_range=50)
SCP_NAME = "neutral.scp"
MIN_SAMPLES = SAMPLE_RATE // 10  # under 0.1 s, eSpeak spoke nothing the upstream can use


def synthesize_dir(data_dir: Path, voice: str = NEUTRAL_VOICE) -> Path:
    """Speak every transcript of ``data_dir/text`` into ``data_dir/neutral/<uttid>.wav`` and list
    them in ``data_dir/neutral.scp`` (the same ids, in the same order); returns the scp."""
    text = read_table(data_dir / "text")  # an empty transcript is an error naming its line
    out_dir = data_dir / "neutral"
    out_dir.mkdir(parents=True, exist_ok=True)
    synthesizer = EspeakSynthesizer()
    paths = {}
    for utt, transcript in text.values.items():
        path = out_dir / f"{utt}.wav"
        if not path.is_file():
            _speak(synthesizer, text, utt, transcript, voice, path)
        paths[utt] = str(path)
    scp = data_dir / SCP_NAME
    write_map(scp, paths)
    logging.info("%s: %d neutral renderings (voice %s)", scp, len(paths), voice)
    return scp


def _speak(synthesizer: EspeakSynthesizer, text: Table, utt: str, transcript: str, voice: str,
           path: Path) -> None:
    audio = synthesizer.synthesize(transcript.lower(), voice, **NEUTRAL_PROSODY)
    if len(audio) < MIN_SAMPLES:
        raise text.error(utt, f"eSpeak NG rendered '{transcript}' as {len(audio)} samples: "
                              "nothing to use as a positive (fix or drop the transcript)")
    with replaced_atomically(path) as tmp:
        soundfile.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", type=Path, nargs="+", help="data dirs with a text file")
    parser.add_argument("--voice", default=NEUTRAL_VOICE, help="eSpeak NG voice")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for data_dir in args.data_dirs:
        synthesize_dir(data_dir, args.voice)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
