"""A query-by-example spoken term detection (QbE-STD) proxy built on a mini_slue data dir.

SCORE (Meghanani & Hain 2024) judges an upstream's content representations by SUPERB's QbE task
(QUESST 2014, ``quesst14_dtw``). QUESST cannot be downloaded here, so this tool builds a small
stand-in from a synthetic corpus, scored as s3prl's quesst14_dtw (:mod:`espnet2_ext.score.qbe`): the
*documents* are the utterances of a Kaldi data dir, the *queries* are single keywords spoken by
eSpeak NG in voices that no document uses, and the ground truth is file-level, as in QUESST: a
query occurs in a document when its keyword is a whole word of the document's transcript.

Keyword rule (all of it, so that the ground truth is both exact and informative):

- a word of the lower-cased transcripts made of ASCII letters only, at least ``--min_letters``
  (5) long: short words are too easy to find inside longer ones by sound;
- in at least 2 documents (a query with one true doc makes AP all-or-nothing) and in at most
  ``max(2, floor(--max_doc_fraction * N))`` of the N documents (1/4: a keyword in most documents
  makes any ranking look good);
- not inside any other word of the transcripts ("record" is out when "records" or "recorded"
  occur): the audio of such a doc contains the keyword's sounds while the truth says "no".

The qualifying words are sorted, shuffled by a random stream of ``--seed`` and the first
``--num_queries`` taken, so fewer queries are a prefix of more (same ids, voices and audio).

Query voice: the documents' voices come from ``spk2voice`` (``recid voice rate pitch range``,
voices like ``en-us+m3``). A query voice takes a variant (the part after ``+``) that *no*
document uses, in any accent, so no query shares a speaker with any document; the candidates
are mini_slue's whole variant inventory (train and test variants) minus the documents' ones,
with mini_slue's accents. Each query draws its accent, variant, rate, pitch and pitch range
(mini_slue's ranges) from its own random stream (seed and keyword), so a query's audio does not
depend on which other queries were picked. The synthesised word is trimmed to its speech
(1 % of the peak) plus 20 ms on each side, since the whole query must align in the subsequence
DTW, and peak-normalised like the corpus.

Output (``<outdir>``, Kaldi style, sorted, written atomically; re-running overwrites it and
removes query wavs of an earlier run that are no longer listed)::

    queries/wav.scp     qid /abs/path/queries/wav/qid.wav   (16 kHz, 16-bit)
    queries/text        qid keyword
    queries/utt2voice   qid voice rate pitch range
    truth               qid doc_uttid       (one line per document the keyword occurs in)
    docs/text           the data dir's text (the documents)
    docs/wav.scp        the recordings the documents need, paths made absolute (audio not copied)
    docs/segments       the documents' segments, when the data dir has them
    qbe_params.json     the parameters and sources, written last

CLI::

    python -m espnet2_ext.corpora.mini_slue_qbe --data_dir data/test --outdir qbe/test \\
        [--num_queries 30] [--seed 0] [--spk2voice data/test/spk2voice]

An ESPnet dump dir (``dump/raw/test``) has no spk2voice: pass the source data dir's with
``--spk2voice``.
"""

import argparse
import json
import logging
import random
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from espnet2_ext.audio import SAMPLE_RATE
from espnet2_ext.corpora.espeak import EspeakSynthesizer
from espnet2_ext.corpora.mini_slue import (
    ACCENTS,
    PEAK,
    PITCH,
    PITCH_RANGE,
    RATE_WPM,
    TEST_VARIANTS,
    TRAIN_VARIANTS,
)
from espnet2_ext.errors import DataError, at, cli_entry
from espnet2_ext.kaldi_files import PathLike, iter_lines, replaced_atomically, write_map

_LOG = logging.getLogger(__name__)

VERSION = 1  # bump when the output changes for equal inputs and parameters
PARAMS_NAME = "qbe_params.json"
DEFAULT_NUM_QUERIES = 30
MIN_LETTERS = 5
MAX_DOC_FRACTION = 0.25
MIN_DOCS = 2
TRIM_LEVEL = 0.01  # of the peak: below it, leading and trailing samples are silence
TRIM_MARGIN_S = 0.02  # kept on each side of the speech (one 20 ms upstream frame)
VARIANTS = TRAIN_VARIANTS + TEST_VARIANTS  # mini_slue's whole voice variant inventory
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")  # words of a transcript, apostrophes inside words kept


# --- reading Kaldi files -------------------------------------------------------------------------


def read_lines(path: PathLike) -> dict[str, tuple[int, str]]:
    """``key -> (lineno, value)`` of a Kaldi ``key value`` file, so that later checks can name the
    line. A missing file, a duplicate key or an empty value is a DataError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise at(path, None, "missing")
    out: dict[str, tuple[int, str]] = {}
    for lineno, key, value in iter_lines(path):
        if key in out:
            raise at(path, lineno, f"duplicate id '{key}'")
        if not value:
            raise at(path, lineno, f"'{key}' has an empty value")
        out[key] = (lineno, value)
    return out


def resolve_audio_path(scp: PathLike, lineno: int, value: str, bases: Iterable[PathLike]) -> Path:
    """The existing absolute file a wav.scp entry names.

    Kaldi paths are relative to the directory the recipe ran in, which is not known here, so a
    relative path is tried against each of ``bases`` in turn (callers pass the working directory
    and the data dir's ancestors: ``dump/raw/test/...`` resolves from the recipe directory).
    Pipes and ark offsets are not plain files and are refused.
    """
    if value.endswith("|") or re.search(r"\.ark:\d+$", value):
        raise at(scp, lineno, f"'{value}' is a pipe or ark entry; only plain audio file paths are supported")
    path = Path(value)
    candidates = [path] if path.is_absolute() else [Path(base) / path for base in bases]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise at(scp, lineno, f"audio file '{value}' not found (relative paths are tried from the working "
                          "directory and the data dir's parent directories)")


def search_bases(data_dir: PathLike) -> list[Path]:
    """Where a relative wav.scp path may start: the working directory, the data dir and its ancestors."""
    data_dir = Path(data_dir).resolve()
    return [Path.cwd(), data_dir, *data_dir.parents]


def words(text: str) -> list[str]:
    """The words of a transcript, lower-cased (punctuation dropped, inner apostrophes kept)."""
    return _WORD.findall(text.lower())


# --- keywords and ground truth -------------------------------------------------------------------


def qualifying_keywords(
    docs: Mapping[str, str], min_letters: int = MIN_LETTERS, max_doc_fraction: float = MAX_DOC_FRACTION
) -> list[str]:
    """The words that satisfy the keyword rule of the module docstring, sorted."""
    doc_words = [set(words(text)) for text in docs.values()]
    vocabulary = set().union(*doc_words)
    counts: dict[str, int] = {}
    for found in doc_words:
        for word in found:
            counts[word] = counts.get(word, 0) + 1
    max_docs = max(MIN_DOCS, int(max_doc_fraction * len(docs)))
    shaped = re.compile(rf"[a-z]{{{min_letters},}}")
    candidates = [w for w, n in counts.items() if shaped.fullmatch(w) and MIN_DOCS <= n <= max_docs]
    return sorted(w for w in candidates if not any(w in other and w != other for other in vocabulary))


def pick_keywords(candidates: Sequence[str], num_queries: int, seed: int) -> list[str]:
    """Up to ``num_queries`` of ``candidates``: a seeded shuffle of the sorted list, cut. A smaller
    ``num_queries`` gives a prefix of a larger one's list."""
    shuffled = sorted(candidates)
    random.Random(f"mini_slue_qbe/{seed}/keywords").shuffle(shuffled)
    return shuffled[:num_queries]


def ground_truth(keywords: Mapping[str, str], docs: Mapping[str, str]) -> set[tuple[str, str]]:
    """(query id, doc id) pairs where the query's keyword is a whole word of the doc's text."""
    doc_words = {doc: set(words(text)) for doc, text in docs.items()}
    return {(qid, doc) for qid, keyword in keywords.items() for doc, found in doc_words.items() if keyword in found}


# --- voices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    """An eSpeak NG voice and its prosody, as a ``spk2voice`` line gives them."""

    voice: str
    rate: int
    pitch: int
    pitch_range: int

    @property
    def variant(self) -> str:
        """The speaker part of the voice (``m3`` in ``en-us+m3``; '' for an accent's default)."""
        return self.voice.partition("+")[2]

    def line(self) -> str:
        return f"{self.voice} {self.rate} {self.pitch} {self.pitch_range}"


def read_spk2voice(path: PathLike) -> dict[str, Voice]:
    """``recid -> Voice`` from mini_slue's ``spk2voice`` (``recid voice rate pitch range``)."""
    voices = {}
    for recid, (lineno, value) in read_lines(path).items():
        fields = value.split()
        if len(fields) != 4 or not all(re.fullmatch(r"-?\d+", f) for f in fields[1:]):
            raise at(path, lineno, f"expected 'recid voice rate pitch range', got '{recid} {value}'")
        voices[recid] = Voice(fields[0], *map(int, fields[1:]))
    return voices


def query_variants(doc_voices: Iterable[Voice]) -> list[str]:
    """mini_slue's voice variants that no document voice uses, in inventory order."""
    used = {voice.variant for voice in doc_voices}
    return [variant for variant in VARIANTS if variant not in used]


def query_voice(keyword: str, seed: int, variants: Sequence[str]) -> Voice:
    """The voice of one query, drawn from its own stream (see the module docstring)."""
    rng = random.Random(f"mini_slue_qbe/{seed}/voice/{keyword}")
    voice = f"{rng.choice(ACCENTS)}+{rng.choice(variants)}"
    return Voice(voice, *(rng.randint(*bounds) for bounds in (RATE_WPM, PITCH, PITCH_RANGE)))


def trim_silence(audio: np.ndarray) -> np.ndarray:
    """``audio`` without leading and trailing silence, keeping ``TRIM_MARGIN_S`` around the speech."""
    envelope = np.abs(audio)
    loud = np.flatnonzero(envelope >= TRIM_LEVEL * max(float(envelope.max()), 1e-6))
    if len(loud) == 0:
        return audio
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return audio[max(0, loud[0] - margin): loud[-1] + 1 + margin]


def synthesize_query(synthesizer: EspeakSynthesizer, keyword: str, voice: Voice) -> np.ndarray:
    """The keyword spoken alone (a full stop gives it a word's falling intonation), trimmed and
    peak-normalised like the corpus."""
    audio = trim_silence(synthesizer.synthesize(f"{keyword}.", voice.voice, voice.rate, voice.pitch,
                                                voice.pitch_range))
    return audio * (PEAK / max(float(np.abs(audio).max()), 1e-6))


# --- the documents -------------------------------------------------------------------------------


@dataclass
class Documents:
    """The documents of a data dir and the Kaldi lines that give their audio."""

    text: dict[str, str]
    wav_scp: dict[str, str]  # recid (or uttid without segments) -> absolute path
    segments: dict[str, str] | None


def read_documents(data_dir: Path) -> Documents:
    """The data dir's ``text`` (the documents) and, for each, its audio entry; every document must
    have audio that exists (paths resolved as :func:`resolve_audio_path` says)."""
    text_lines = read_lines(data_dir / "text")
    if not text_lines:
        raise at(data_dir / "text", None, "no documents")
    scp = data_dir / "wav.scp"
    scp_lines = read_lines(scp)
    segments_path = data_dir / "segments"
    segments = None
    needed: dict[str, tuple[Path, int]] = {}  # wav.scp key -> the file and line that asked for it
    if segments_path.is_file():
        segment_lines = read_lines(segments_path)
        segments = {}
        for uttid, (lineno, _) in text_lines.items():
            if uttid not in segment_lines:
                raise at(data_dir / "text", lineno, f"document '{uttid}' has no line in {segments_path}")
            seg_lineno, value = segment_lines[uttid]
            fields = value.split()
            if len(fields) != 3 or not _is_span(fields[1], fields[2]):
                raise at(segments_path, seg_lineno, f"expected 'uttid recid start end' with 0 <= start < end, "
                                                    f"got '{uttid} {value}'")
            segments[uttid] = value
            needed.setdefault(fields[0], (segments_path, seg_lineno))
    else:
        needed = {uttid: (data_dir / "text", lineno) for uttid, (lineno, _) in text_lines.items()}
    bases = search_bases(data_dir)
    wav_scp = {}
    for key, (path, lineno) in needed.items():
        if key not in scp_lines:
            raise at(path, lineno, f"'{key}' has no audio in {scp}")
        scp_lineno, value = scp_lines[key]
        wav_scp[key] = str(resolve_audio_path(scp, scp_lineno, value, bases))
    return Documents({uttid: value for uttid, (_, value) in text_lines.items()}, wav_scp, segments)


def _is_span(start: str, end: str) -> bool:
    try:
        return 0 <= float(start) < float(end)
    except ValueError:
        return False


def check_voices_cover_speakers(data_dir: Path, voices: Mapping[str, Voice], spk2voice: Path) -> None:
    """Every document speaker (``utt2spk``; in mini_slue the speaker is the recording) must have a
    voice: a spk2voice of another split would let a query reuse a document's voice unnoticed."""
    utt2spk = data_dir / "utt2spk"
    if not utt2spk.is_file():
        return
    for uttid, (lineno, speaker) in read_lines(utt2spk).items():
        if speaker not in voices:
            raise at(utt2spk, lineno, f"speaker '{speaker}' of '{uttid}' has no voice in {spk2voice}")


# --- writing -------------------------------------------------------------------------------------


def write_wav(path: Path, audio: np.ndarray) -> None:
    """A 16 kHz 16-bit wav, replaced atomically."""
    with replaced_atomically(path) as tmp:
        soundfile.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def build(
    data_dir: Path,
    outdir: Path,
    num_queries: int = DEFAULT_NUM_QUERIES,
    seed: int = 0,
    spk2voice: Path | None = None,
    min_letters: int = MIN_LETTERS,
    max_doc_fraction: float = MAX_DOC_FRACTION,
) -> dict[str, str]:
    """Write the QbE dir ``outdir`` for the documents of ``data_dir`` (see the module docstring);
    returns ``query id -> keyword``."""
    if num_queries < 1:
        raise DataError(f"--num_queries must be positive, got {num_queries}")
    if not 0 < max_doc_fraction <= 1:
        raise DataError(f"--max_doc_fraction must be in (0, 1], got {max_doc_fraction}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise at(data_dir, None, "not a directory (expected a Kaldi data dir of documents)")
    spk2voice = Path(spk2voice) if spk2voice is not None else data_dir / "spk2voice"
    if not spk2voice.is_file():
        raise at(spk2voice, None, "missing: query voices must differ from the documents' voices, which it lists "
                                  "(an ESPnet dump dir has none: pass --spk2voice data/<set>/spk2voice)")
    voices = read_spk2voice(spk2voice)
    check_voices_cover_speakers(data_dir, voices, spk2voice)
    variants = query_variants(voices.values())
    if not variants:
        raise at(spk2voice, None, f"the documents use every voice variant of mini_slue ({len(VARIANTS)}); "
                                  "no unused voice is left for the queries")
    docs = read_documents(data_dir)
    candidates = qualifying_keywords(docs.text, min_letters, max_doc_fraction)
    if not candidates:
        raise at(data_dir / "text", None, f"no keyword qualifies among {len(docs.text)} documents (words of "
                                          f">= {min_letters} letters in {MIN_DOCS} to "
                                          f"max({MIN_DOCS}, {max_doc_fraction} * docs) docs, inside no other word)")
    keywords = pick_keywords(candidates, num_queries, seed)
    qids = {f"q{index:03d}_{keyword}": keyword for index, keyword in enumerate(keywords)}
    _LOG.info("%d of %d qualifying keywords, %d documents, query voice variants: %s",
              len(keywords), len(candidates), len(docs.text), " ".join(variants))

    synthesizer = EspeakSynthesizer()
    wav_dir = (outdir / "queries" / "wav").resolve()
    query_voices = {}
    wav_scp = {}
    for qid, keyword in qids.items():
        query_voices[qid] = query_voice(keyword, seed, variants)
        wav_scp[qid] = str(wav_dir / f"{qid}.wav")
        write_wav(Path(wav_scp[qid]), synthesize_query(synthesizer, keyword, query_voices[qid]))
    for stale in set(wav_dir.glob("*.wav")) - {Path(p) for p in wav_scp.values()}:
        stale.unlink()
    write_map(outdir / "queries" / "wav.scp", wav_scp)
    write_map(outdir / "queries" / "text", qids)
    write_map(outdir / "queries" / "utt2voice", {qid: v.line() for qid, v in query_voices.items()})
    truth = ground_truth(qids, docs.text)
    with replaced_atomically(outdir / "truth") as tmp:
        tmp.write_text("".join(f"{q} {d}\n" for q, d in sorted(truth)), encoding="utf-8")

    write_map(outdir / "docs" / "text", docs.text)
    write_map(outdir / "docs" / "wav.scp", docs.wav_scp)
    if docs.segments is not None:
        write_map(outdir / "docs" / "segments", docs.segments)
    else:
        (outdir / "docs" / "segments").unlink(missing_ok=True)  # from an earlier run on another dir

    params = {
        "tool": "mini_slue_qbe", "version": VERSION, "data_dir": str(data_dir.resolve()),
        "spk2voice": str(spk2voice.resolve()), "num_queries": num_queries, "seed": seed,
        "min_letters": min_letters, "max_doc_fraction": max_doc_fraction,
        "qualifying_keywords": len(candidates), "queries": len(qids), "docs": len(docs.text),
        "truth_pairs": len(truth), "query_variants": variants,
    }
    (outdir / PARAMS_NAME).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    _LOG.info("wrote %s: %d queries, %d documents, %d true pairs", outdir, len(qids), len(docs.text), len(truth))
    return qids


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build a QbE-STD proxy from a mini_slue data dir: eSpeak NG keyword queries in voices no "
                    "document uses, the data dir's utterances as documents, file-level ground truth.",
    )
    parser.add_argument("--data_dir", required=True, type=Path,
                        help="Kaldi data dir of the documents (text, wav.scp [+ segments], spk2voice)")
    parser.add_argument("--outdir", required=True, type=Path, help="where the QbE dir is written")
    parser.add_argument("--num_queries", type=int, default=DEFAULT_NUM_QUERIES,
                        help=f"at most this many keywords (default {DEFAULT_NUM_QUERIES})")
    parser.add_argument("--seed", type=int, default=0, help="random seed of keyword and voice choice (default 0)")
    parser.add_argument("--spk2voice", type=Path,
                        help="the documents' voices (default <data_dir>/spk2voice; a dump dir needs data/<set>'s)")
    parser.add_argument("--min_letters", type=int, default=MIN_LETTERS,
                        help=f"shortest keyword (default {MIN_LETTERS})")
    parser.add_argument("--max_doc_fraction", type=float, default=MAX_DOC_FRACTION,
                        help=f"a keyword occurs in at most this fraction of the docs (default {MAX_DOC_FRACTION})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    build(args.data_dir, args.outdir, args.num_queries, args.seed, args.spk2voice, args.min_letters,
          args.max_doc_fraction)
    return 0


if __name__ == "__main__":
    sys.exit(main())
