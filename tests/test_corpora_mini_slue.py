"""Tests for the MiniSLUE synthetic corpus (tiny size)."""

import json
import re
import shutil
from pathlib import Path
from typing import Dict, Tuple

import pytest
import soundfile

from espnet2_ext.corpora import mini_slue, sentiment
from espnet2_ext.corpora.common import SPLITS, is_up_to_date
from espnet2_ext.corpora.espeak import phonemize
from espnet2_ext.corpora.entities import TAGS
from espnet2_ext.kaldi_files import read_map

COUNTS = {"train": 2, "dev": 1, "test": 1}
SEED = 3
PER_UTT_FILES = ("text", "text.ner", "text.sentiment", "text.phn", "utt2spk", "utt2rec", "segments")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mini_slue")
    assert mini_slue.generate(root / "data", root / "audio", SEED, COUNTS, nj=1)
    return root / "data", root / "audio"


def _read(data: Path, split: str, name: str) -> Dict[str, str]:
    return read_map(data / split / name)


def test_identical_bytes_across_nj_and_runs(corpus: Tuple[Path, Path], tmp_path: Path) -> None:
    data, audio = corpus
    assert mini_slue.generate(tmp_path / "data", tmp_path / "audio", SEED, COUNTS, nj=2)
    for split in SPLITS:
        for name in [*PER_UTT_FILES, "spk2utt", "spk2voice"]:
            assert (data / split / name).read_bytes() == (tmp_path / "data" / split / name).read_bytes()
        for wav in (audio / split).glob("*.wav"):
            assert wav.read_bytes() == (tmp_path / "audio" / split / wav.name).read_bytes()
    other_audio = str((tmp_path / "audio").resolve())
    expected = (data / "train" / "wav.scp").read_text().replace(str(audio.resolve()), other_audio)
    assert (tmp_path / "data" / "train" / "wav.scp").read_text() == expected


def test_files_are_consistent_and_sorted(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    for split in SPLITS:
        maps = {name: _read(data, split, name) for name in PER_UTT_FILES}
        uttids = list(maps["text"])
        assert uttids == sorted(uttids) and len(uttids) >= 5 * COUNTS[split]
        for name, mapping in maps.items():
            assert list(mapping) == uttids, name
        recids = sorted({f"{split}_r{i:04d}" for i in range(COUNTS[split])})
        assert list(_read(data, split, "wav.scp")) == recids
        assert list(_read(data, split, "spk2utt")) == recids
        for uttid in uttids:
            recid, index = maps["utt2rec"][uttid].split()
            assert uttid == f"{recid}_{int(index):03d}"
            assert maps["utt2spk"][uttid] == recid == maps["segments"][uttid].split()[0]
        spk2utt = {spk: utts.split() for spk, utts in _read(data, split, "spk2utt").items()}
        assert sorted(u for utts in spk2utt.values() for u in utts) == uttids


def test_segments_lie_within_the_audio_in_order(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    for split in SPLITS:
        durations = {}
        for rec, path in _read(data, split, "wav.scp").items():
            info = soundfile.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            durations[rec] = info.duration
        previous_end: Dict[str, float] = {}
        for uttid, value in _read(data, split, "segments").items():
            rec, start, end = value.split()
            assert re.fullmatch(r"\d+\.\d\d", start) and re.fullmatch(r"\d+\.\d\d", end)
            # Edge pauses are 0.1-0.3 s, pauses between sentences 0.2-0.6 s.
            earliest = previous_end[rec] + 0.2 if rec in previous_end else 0.1
            assert earliest <= float(start) < float(end) <= durations[rec] - 0.1
            previous_end[rec] = float(end)


def test_ner_text_has_allowed_tags_and_matches_text(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    span = re.compile(r"\b([A-Z]+) FILL ((?:[a-z']+ )+?)SEP\b")
    tags_seen = set()
    for split in SPLITS:
        text, ner = _read(data, split, "text"), _read(data, split, "text.ner")
        for uttid, transcript in text.items():
            assert re.fullmatch(r"[a-z' ]+", transcript)
            tags_seen.update(m.group(1) for m in span.finditer(ner[uttid]))
            assert span.sub(lambda m: m.group(2).strip(), ner[uttid]) == transcript
    assert tags_seen and tags_seen <= set(TAGS)


def test_sentiment_labels(corpus: Tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    data, _ = corpus
    labels = [v for split in SPLITS for v in _read(data, split, "text.sentiment").values()]
    assert set(labels) <= {"Negative", "Neutral", "Positive"}
    assert sentiment.main([str(data / "train"), str(data / "test")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"majority", *sentiment.PREDICTORS}
    assert all(0.0 <= value <= 1.0 for value in scores.values())


def test_phonemes_are_those_of_the_spoken_text_and_voice(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    for split in SPLITS:
        text, phonemes = _read(data, split, "text"), _read(data, split, "text.phn")
        voices = {rec: value.split()[0] for rec, value in _read(data, split, "spk2voice").items()}
        utt2spk = _read(data, split, "utt2spk")
        for uttid, value in phonemes.items():
            assert value.split(" ") == phonemize(text[uttid] + ".", voices[utt2spk[uttid]])


def test_cached_corpus_without_phonemes_gets_them(corpus: Tuple[Path, Path], tmp_path: Path) -> None:
    data, audio = corpus
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    for split in SPLITS:
        (copy / split / "text.phn").unlink()
    wav = next((audio / "train").glob("*.wav"))
    wav_time, stamp_time = wav.stat().st_mtime_ns, (copy / "corpus_params.json").stat().st_mtime_ns
    assert not mini_slue.generate(copy, audio, SEED, COUNTS, nj=1)
    for split in SPLITS:
        assert (copy / split / "text.phn").read_bytes() == (data / split / "text.phn").read_bytes()
    assert wav.stat().st_mtime_ns == wav_time  # not synthesised again
    assert (copy / "corpus_params.json").stat().st_mtime_ns == stamp_time


def test_test_voices_never_occur_in_train_or_dev(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    assert not set(mini_slue.TEST_VARIANTS) & set(mini_slue.TRAIN_VARIANTS)
    for split in SPLITS:
        variants = {v.split()[0].split("+")[1] for v in _read(data, split, "spk2voice").values()}
        allowed = mini_slue.TEST_VARIANTS if split == "test" else mini_slue.TRAIN_VARIANTS
        assert variants <= set(allowed)
    plans = mini_slue.plan_corpus(0, {"train": 40, "dev": 0, "test": 20})  # text only: fast
    train_voices = {p.voice.split("+")[1] for p in plans["train"]}
    test_voices = {p.voice.split("+")[1] for p in plans["test"]}
    assert len(test_voices) >= 5 and not train_voices & test_voices


def test_speaking_rate_allows_character_ctc(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    rates = []
    for split in SPLITS:
        text = _read(data, split, "text")
        for uttid, value in _read(data, split, "segments").items():
            _, start, end = value.split()
            rates.append(len(text[uttid]) / (float(end) - float(start)))
    assert max(rates) < 20.0
    assert 12.0 <= sum(rates) / len(rates) <= 16.0


def test_cached_run_is_skipped(corpus: Tuple[Path, Path]) -> None:
    data, audio = corpus
    params = {"corpus": "mini_slue", "version": mini_slue.VERSION, "seed": SEED, "counts": COUNTS,
              "audio_dir": str(audio.resolve())}
    assert is_up_to_date(data, params)
    assert not is_up_to_date(data, {**params, "seed": SEED + 1})
    args = ["--outdir", str(data), "--audio_dir", str(audio), "--seed", str(SEED), "--nj", "1", "--size", "tiny",
            "--train_recordings", "2", "--dev_recordings", "1", "--test_recordings", "1"]
    stamp_time = (data / "corpus_params.json").stat().st_mtime_ns
    assert mini_slue.main(args) == 0
    assert (data / "corpus_params.json").stat().st_mtime_ns == stamp_time


def test_cli_rejects_empty_split(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--outdir", str(tmp_path / "d"), "--audio_dir", str(tmp_path / "a"), "--train_recordings", "0"]
    assert mini_slue.main(args) == 1
    assert "--train_recordings must be positive" in capsys.readouterr().err
