"""MiniSLUE: a seeded, deterministic synthetic spoken-language corpus in the style of SLUE-VoxPopuli.

Each *recording* is 5-15 consecutive sentences (see :mod:`espnet2_ext.corpora.sentences`) spoken by
one eSpeak NG voice (accent, voice variant, rate, pitch and pitch range drawn per recording), the
sentences synthesised separately and joined with 0.2-0.6 s pauses into one 16 kHz 16-bit wav.
Test recordings use voice variants never used in train or dev. Every sentence has a transcript
(``text``), the same words with named entities marked (``text.ner``: ``TAG FILL words SEP``), a
sentiment label (``text.sentiment``, see :mod:`espnet2_ext.corpora.sentiment`) and the phonemes the
voice spoke (``text.phn``: eSpeak NG's IPA, space-separated, see
:func:`espnet2_ext.corpora.espeak.phonemize`), a target for phoneme recognition (PER).

Per split a Kaldi data dir is written: ``wav.scp`` (keyed by recording), ``segments`` (times on a
10 ms grid, exact), ``text``, ``text.ner``, ``text.sentiment``, ``text.phn``, ``utt2spk`` and
``spk2utt`` (speaker = recording), ``utt2rec`` (``uttid recid index``) and ``spk2voice``
(``recid voice rate pitch range``).
Ids: ``train_r0007`` (recording and speaker), ``train_r0007_003`` (utterance).

The output depends only on the parameters: each recording draws from its own random stream, and
synthesis is deterministic, so it is byte-identical across runs and ``--nj`` values. A run is
skipped when ``<outdir>/corpus_params.json`` shows the same parameters and all wavs exist; a
skipped corpus that lacks ``text.phn`` (generated before it existed) gets it, without resynthesis.

CLI::

    python -m espnet2_ext.corpora.mini_slue --outdir data --audio_dir downloads/mini_slue \\
        [--seed 0] [--nj 2] [--size default|tiny] [--train_recordings N] ...
"""

import argparse
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile

from espnet2_ext.corpora.common import SPLITS, Utterance, is_up_to_date, parallel_map, write_data_dir, write_stamp
from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.corpora.espeak import EspeakSynthesizer, phonemize
from espnet2_ext.corpora.sentences import Sentence, SentenceGenerator
from espnet2_ext.corpora.sentiment import SentimentModel
from espnet2_ext.corpora.topics import Topic
from espnet2_ext.errors import DataError, cli_entry
from espnet2_ext.kaldi_files import write_map

VERSION = 1  # bump when the generated data changes for equal parameters
SIZES: Dict[str, Dict[str, int]] = {
    "default": {"train": 80, "dev": 10, "test": 10},
    "tiny": {"train": 3, "dev": 2, "test": 2},
}
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-us-nyc")
TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m5", "m6", "m7", "f1", "f2", "f3", "f5", "Alex", "Annie", "Gene", "Jacky",
    "Michael", "Mike", "Storm", "adam", "aunty", "boris", "david", "edward", "grandma", "john",
    "linda", "max", "norbert", "paul", "quincy", "rob", "robert", "steph",
)
TEST_VARIANTS = ("m4", "f4", "Andy", "Lee", "belinda", "benjamin", "travis", "klatt3")
SENTENCES_PER_RECORDING = (5, 15)
RATE_WPM = (105, 140)  # eSpeak's nominal rate; gives about 12-16 characters per second
PITCH = (35, 65)
PITCH_RANGE = (30, 80)
PAUSE_CS = (20, 60)  # between sentences, in centiseconds (10 ms steps keep segment times exact)
EDGE_PAUSE_CS = (10, 30)  # before the first and after the last sentence
PEAK = 0.9
PHONEME_FILE = "text.phn"
_GRID = SAMPLE_RATE // 100  # samples per centisecond


@dataclass(frozen=True)
class RecordingPlan:
    """Everything needed to synthesise one recording and write its transcripts."""

    recid: str
    voice: str
    rate: int
    pitch: int
    pitch_range: int
    sentences: Tuple[Sentence, ...]
    labels: Tuple[str, ...]
    pauses_cs: Tuple[int, ...]  # len(sentences) + 1 pauses: before, between and after sentences

    def uttid(self, index: int) -> str:
        return f"{self.recid}_{index:03d}"


def plan_recording(generator: SentenceGenerator, seed: int, split: str, index: int,
                   topic_share: float = 0.0) -> RecordingPlan:
    """Draw one recording from its own random stream (independent of all other recordings); with
    ``topic_share`` > 0, its topic (:mod:`.topics`) from a second stream of its own."""
    rng = random.Random(f"mini_slue/{seed}/{split}/{index}")
    topic = None
    if topic_share:
        topic_rng = random.Random(f"mini_slue/{seed}/{split}/{index}/topic")
        topic = Topic(generator.entities, len(generator.classes["noun.sg"]), topic_rng, topic_share)
    variants = TEST_VARIANTS if split == "test" else TRAIN_VARIANTS
    voice = f"{rng.choice(ACCENTS)}+{rng.choice(variants)}"
    prosody = [rng.randint(*bounds) for bounds in (RATE_WPM, PITCH, PITCH_RANGE)]
    labelled = SentimentModel().sample(rng, rng.randint(*SENTENCES_PER_RECORDING))
    sentences = tuple(generator.sentence(rng, cue, topic) for _, cue in labelled)
    pauses = [rng.randint(*EDGE_PAUSE_CS)] + [rng.randint(*PAUSE_CS) for _ in sentences[1:]]
    pauses.append(rng.randint(*EDGE_PAUSE_CS))
    return RecordingPlan(f"{split}_r{index:04d}", voice, *prosody, sentences,
                         tuple(label for label, _ in labelled), tuple(pauses))


def plan_corpus(seed: int, counts: Dict[str, int], topic_share: float = 0.0) -> Dict[str, List[RecordingPlan]]:
    """Plans of all recordings, per split."""
    generator = SentenceGenerator()
    return {split: [plan_recording(generator, seed, split, i, topic_share) for i in range(counts[split])]
            for split in SPLITS}


def spoken_text(sentence: Sentence) -> str:
    """What the voice is given to say: the final full stop gives the sentence its falling intonation."""
    return sentence.text() + "."


def phoneme_targets(plans: Sequence[RecordingPlan]) -> Dict[str, str]:
    """uttid -> phonemes of exactly what the recording's voice spoke (its accent sets them)."""
    return {plan.uttid(index): " ".join(phonemize(spoken_text(sentence), plan.voice))
            for plan in plans for index, sentence in enumerate(plan.sentences)}


_SynthesisJob = Tuple[str, RecordingPlan]


def synthesize_recording(job: _SynthesisJob) -> List[Tuple[int, int]]:
    """Write the recording's wav; returns each sentence's (start, end) in centiseconds."""
    wav_path, plan = job
    synthesizer = EspeakSynthesizer()
    chunks: List[np.ndarray] = []
    spans: List[Tuple[int, int]] = []
    position_cs = 0
    for sentence, pause_cs in zip(plan.sentences, plan.pauses_cs):
        chunks.append(np.zeros(pause_cs * _GRID, dtype=np.float32))
        position_cs += pause_cs
        audio = synthesizer.synthesize(spoken_text(sentence), plan.voice, plan.rate, plan.pitch, plan.pitch_range)
        length_cs = -(-len(audio) // _GRID)  # pad up to the 10 ms grid
        chunks.append(np.pad(audio, (0, length_cs * _GRID - len(audio))))
        spans.append((position_cs, position_cs + length_cs))
        position_cs += length_cs
    chunks.append(np.zeros(plan.pauses_cs[-1] * _GRID, dtype=np.float32))
    audio = np.concatenate(chunks)
    audio *= PEAK / max(float(np.abs(audio).max()), 1e-6)
    Path(wav_path).parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(wav_path, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return spans


def _write_split(data_dir: Path, plans: Sequence[RecordingPlan], wav_paths: Sequence[str],
                 spans: Sequence[List[Tuple[int, int]]]) -> None:
    utterances: List[Utterance] = []
    segments: Dict[str, str] = {}
    phonemes = phoneme_targets(plans)
    for plan, rec_spans in zip(plans, spans):
        for index, (sentence, label, (start, end)) in enumerate(zip(plan.sentences, plan.labels, rec_spans)):
            uttid = plan.uttid(index)
            targets = {"text.ner": sentence.ner_text(), "text.sentiment": label, PHONEME_FILE: phonemes[uttid]}
            utterances.append(Utterance(uttid, plan.recid, plan.recid, index, sentence.text(), targets))
            segments[uttid] = f"{plan.recid} {start / 100:.2f} {end / 100:.2f}"
    wav_scp = {plan.recid: path for plan, path in zip(plans, wav_paths)}
    write_data_dir(data_dir, utterances, wav_scp, segments)
    voices = {p.recid: f"{p.voice} {p.rate} {p.pitch} {p.pitch_range}" for p in plans}
    (data_dir / "spk2voice").write_text("".join(f"{k} {voices[k]}\n" for k in sorted(voices)), encoding="utf-8")


def _add_missing_phonemes(outdir: Path, seed: int, counts: Dict[str, int], topic_share: float) -> None:
    """Give an up-to-date corpus from before ``text.phn`` existed its phonemes: they follow from the
    plans alone, so the (byte-identical) audio need not be synthesised again."""
    missing = [split for split in SPLITS if not (outdir / split / PHONEME_FILE).is_file()]
    if missing:
        plans = plan_corpus(seed, counts, topic_share)
        for split in missing:
            write_map(outdir / split / PHONEME_FILE, phoneme_targets(plans[split]))
            logging.info("added %s", outdir / split / PHONEME_FILE)


def generate(outdir: Path, audio_dir: Path, seed: int, counts: Dict[str, int], nj: int, force: bool = False,
             topic_share: float = 0.0) -> bool:
    """Generate the corpus unless it is up to date; returns True when it was (re)generated."""
    audio_dir = audio_dir.resolve()
    params = {"corpus": "mini_slue", "version": VERSION, "seed": seed, "counts": counts,
              "audio_dir": str(audio_dir)}
    if topic_share:  # absent otherwise: corpora generated before topics existed stay up to date
        params["topic_share"] = topic_share
    if not force and is_up_to_date(outdir, params):
        logging.info("%s is up to date, skipping", outdir)
        _add_missing_phonemes(outdir, seed, counts, topic_share)
        return False
    plans = plan_corpus(seed, counts, topic_share)
    started = time.time()
    wav_paths = {split: [str(audio_dir / split / f"{p.recid}.wav") for p in plans[split]] for split in SPLITS}
    jobs = [(path, plan) for split in SPLITS for path, plan in zip(wav_paths[split], plans[split])]
    all_spans = iter(parallel_map(synthesize_recording, jobs, nj))
    logging.info("synthesis took %.1f s", time.time() - started)
    for split in SPLITS:
        spans = [next(all_spans) for _ in plans[split]]
        _write_split(outdir / split, plans[split], wav_paths[split], spans)
        hours = sum(end - start for rec_spans in spans for start, end in rec_spans) / 100 / 3600
        logging.info("%s: %d recordings, %.3f h in segments", split, len(spans), hours)
    write_stamp(outdir, params)
    return True


def _counts(args: argparse.Namespace) -> Dict[str, int]:
    counts = dict(SIZES[args.size])
    for split in SPLITS:
        override = getattr(args, f"{split}_recordings")
        if override is not None:
            if override < 1:
                raise DataError(f"--{split}_recordings must be positive, got {override}")
            counts[split] = override
    return counts


@cli_entry
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate MiniSLUE, a synthetic SLUE-style corpus (eSpeak NG speech, transcripts, "
                    "named entities, sentiment, phonemes), as Kaldi data dirs <outdir>/{train,dev,test}.",
    )
    parser.add_argument("--outdir", required=True, type=Path, help="root of the data dirs")
    parser.add_argument("--audio_dir", required=True, type=Path, help="where the recording wavs go")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--nj", type=int, default=2, help="synthesis processes (output does not depend on it)")
    parser.add_argument("--size", choices=sorted(SIZES), default="default",
                        help="default: about 1.3 h train, 10 min dev and test; tiny: a few recordings")
    for split in SPLITS:
        parser.add_argument(f"--{split}_recordings", type=int, help=f"number of {split} recordings (overrides --size)")
    parser.add_argument("--topic_share", type=float, default=0.0,
                        help="share of noun and entity slots that take the recording's topic words "
                             "(espnet2_ext/corpora/topics.py; default 0: no topic)")
    parser.add_argument("--force", action="store_true", help="regenerate even when up to date")
    args = parser.parse_args(argv)
    if not 0.0 <= args.topic_share <= 1.0:
        raise DataError(f"--topic_share must be within 0..1, got {args.topic_share}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    generate(args.outdir, args.audio_dir, args.seed, _counts(args), args.nj, args.force, args.topic_share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
