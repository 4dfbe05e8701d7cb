"""Tests for the FSDD connected-digit corpus (tiny size, real FSDD files read in place)."""

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import soundfile

from espnet2_ext.corpora import fsdd
from espnet2_ext.corpora.common import SPLITS
from espnet2_ext.kaldi_files import read_map

FSDD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
COUNTS = dict(fsdd.SIZES["tiny"])
pytestmark = pytest.mark.skipif(not (FSDD_DIR / "recordings").is_dir(), reason="FSDD not found")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fsdd")
    assert fsdd.generate(FSDD_DIR, root / "data", root / "audio", "nicolas", 0, COUNTS)
    return root / "data", root / "audio"


def test_held_out_speaker_is_the_whole_test_set(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    speakers = {split: set(read_map(data / split / "utt2spk").values()) for split in SPLITS}
    assert speakers["test"] == {"nicolas"}
    assert speakers["train"] == speakers["dev"] == {"george", "jackson", "lucas"}
    for split in SPLITS:
        utt2spk = read_map(data / split / "utt2spk")
        assert len(utt2spk) == COUNTS[split] * len(speakers[split])
        assert all(uttid.startswith(f"{spk}_{split}_r") for uttid, spk in utt2spk.items())


def test_splits_share_no_source_file() -> None:
    plans = fsdd.plan_corpus(FSDD_DIR, "nicolas", 0, {"train": 300, "dev": 40, "test": 250})
    used = {split: {s for u in plans[split] for s in u.sources} for split in SPLITS}
    assert not used["train"] & used["dev"] and not used["train"] & used["test"] and not used["dev"] & used["test"]
    assert len(used["test"]) == 500  # all of nicolas's files
    assert len(used["dev"]) == 3 * 10 * 5  # 10% of each (speaker, digit) pool of 50
    assert len(used["train"]) == 3 * 10 * 45


def test_transcripts_and_audio_match_the_source_digits(corpus: Tuple[Path, Path]) -> None:
    data, _ = corpus
    plans = fsdd.plan_corpus(FSDD_DIR, "nicolas", 0, COUNTS)
    for split in SPLITS:
        text, wav_scp = read_map(data / split / "text"), read_map(data / split / "wav.scp")
        utt2rec = read_map(data / split / "utt2rec")
        for u in plans[split]:
            assert text[u.uttid] == " ".join(fsdd.DIGIT_WORDS[d] for d, _, _ in u.sources)
            assert 3 <= len(u.sources) <= 7 and utt2rec[u.uttid] == f"{u.recid} {u.index}"
            audio, rate = soundfile.read(wav_scp[u.uttid], dtype="int16")
            first, _ = soundfile.read(FSDD_DIR / "recordings" / fsdd.source_name(u.sources[0]), dtype="int16")
            assert rate == 8000
            assert np.array_equal(audio[u.pauses[0]:u.pauses[0] + len(first)], first)
            assert len(audio) == sum(u.pauses) + sum(
                soundfile.info(FSDD_DIR / "recordings" / fsdd.source_name(s)).frames for s in u.sources)


def test_recordings_group_eight_to_twelve_consecutive_utterances() -> None:
    plans = fsdd.plan_corpus(FSDD_DIR, "nicolas", 0, {"train": 100, "dev": 1, "test": 1})
    indices: Dict[str, List[int]] = {}
    for u in plans["train"]:
        indices.setdefault(u.recid, []).append(u.index)
    last_of_speaker = {max(r for r in indices if r.startswith(spk + "_")) for spk in ("george", "jackson", "lucas")}
    for recid, found in indices.items():
        assert found == list(range(len(found)))
        assert 1 <= len(found) <= 12 if recid in last_of_speaker else 8 <= len(found) <= 12


def test_deterministic_and_cached(corpus: Tuple[Path, Path], tmp_path: Path) -> None:
    data, audio = corpus
    assert not fsdd.generate(FSDD_DIR, data, audio, "nicolas", 0, COUNTS)  # up to date
    assert fsdd.generate(FSDD_DIR, tmp_path / "data", tmp_path / "audio", "nicolas", 0, COUNTS)
    for split in SPLITS:
        assert (data / split / "text").read_bytes() == (tmp_path / "data" / split / "text").read_bytes()
        for wav in (audio / split).glob("*.wav"):
            assert wav.read_bytes() == (tmp_path / "audio" / split / wav.name).read_bytes()


def test_cli_rejects_unknown_test_speaker(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--fsdd_dir", str(FSDD_DIR), "--outdir", str(tmp_path / "d"), "--audio_dir", str(tmp_path / "a"),
            "--test_speaker", "bob", "--size", "tiny"]
    assert fsdd.main(args) == 1
    assert "test speaker 'bob' is not in FSDD" in capsys.readouterr().err
