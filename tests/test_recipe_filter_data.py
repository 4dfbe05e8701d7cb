"""Tests for espnet2_ext.recipe.filter_data (stage 4)."""

import logging
import shutil
from pathlib import Path
from typing import List

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.kaldi_files import NEIGHBOUR_DIR
from espnet2_ext.recipe import filter_data
from helpers import write_lines


def read(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def make_dump(tmp_path: Path) -> Path:
    """Seven utterances at 16 kHz: u1 0.1 s (= min), u2 0.1 s + 1 sample, u3 empty text.ner,
    u4 empty text, u5 2 s (= max), u6 2 s - 1 sample, u7 no text at all."""
    d = tmp_path / "org"
    d.mkdir()
    utts = [f"s_u{i}" for i in range(1, 8)]
    lengths = [1600, 1601, 8000, 8000, 32000, 31999, 8000]
    write_lines(d / "wav.scp", [f"{u} data/{u}.flac" for u in utts])
    write_lines(d / "utt2num_samples", [f"{u} {n}" for u, n in zip(utts, lengths)])
    write_lines(d / "text", ["s_u1 a", "s_u2 b", "s_u3 c", "s_u4", "s_u5 e", "s_u6 f"])
    write_lines(d / "text.ner", ["s_u1 A", "s_u2 B", "s_u3", "s_u4 D", "s_u5 E", "s_u6 F", "s_u7 G"])
    write_lines(d / "utt2spk", [f"{u} s" for u in utts])
    write_lines(d / "spk2utt", ["s " + " ".join(utts)])
    write_lines(d / "feats_type", ["raw"])
    return d


def test_drops_by_duration_and_empty_text(tmp_path, caplog):
    src, dst = make_dump(tmp_path), tmp_path / "train"
    argv = ["--min_wav_duration", "0.1", "--max_wav_duration", "2", "--fs", "16000",
            "--text_files", "text text.ner", str(src), str(dst)]
    with caplog.at_level(logging.INFO):
        assert filter_data.main(argv) == 0
    assert read(dst / "utt2spk") == ["s_u2 s", "s_u6 s"]
    assert read(dst / "spk2utt") == ["s s_u2 s_u6"]
    assert read(dst / "text.ner") == ["s_u2 B", "s_u6 F"]
    assert read(dst / "utt2num_samples") == ["s_u2 1601", "s_u6 31999"]
    assert read(dst / "wav.scp") == ["s_u2 data/s_u2.flac", "s_u6 data/s_u6.flac"]
    assert read(dst / "feats_type") == ["raw"]
    assert (
        f"{dst}: kept 2 utterances (1 empty text, 1 empty text.ner, 1 not in text, "
        "1 too long (>= 32000 samples), 1 too short (<= 1600 samples))" in caplog.text
    )


def test_only_text_checked_by_default(tmp_path):
    src, dst = make_dump(tmp_path), tmp_path / "train"
    # 800 < n < 160000 keeps all lengths; u4 (empty text) and u7 (no text) go, u3 (empty text.ner) stays
    assert filter_data.filter_dump_dir(src, dst, 0.05, 10, 16000) == 5
    assert read(dst / "text.ner")[2] == "s_u3"


def test_missing_inputs(tmp_path):
    src = make_dump(tmp_path)
    with pytest.raises(DataError, match=rf"^{src}/text.sentiment: text file to check is missing$"):
        filter_data.filter_dump_dir(src, tmp_path / "x", 0.1, 2, 16000, ["text.sentiment"])
    (src / "utt2num_samples").unlink()
    with pytest.raises(DataError, match=rf"^{src}/utt2num_samples: missing \(format the audio first\)$"):
        filter_data.filter_dump_dir(src, tmp_path / "x", 0.1, 2, 16000)


def test_neighbour_only_segments_are_copied_unfiltered_and_a_stale_copy_goes(tmp_path):
    src, dst = make_dump(tmp_path), tmp_path / "train"
    extra = src / NEIGHBOUR_DIR
    extra.mkdir()
    write_lines(extra / "wav.scp", ["s_n1 data/n1.flac"])
    write_lines(extra / "utt2num_samples", ["s_n1 64000"])  # longer than --max_wav_duration
    argv = ["--min_wav_duration", "0.1", "--max_wav_duration", "2", str(src), str(dst)]
    assert filter_data.main(argv) == 0
    assert read(dst / NEIGHBOUR_DIR / "wav.scp") == ["s_n1 data/n1.flac"]
    shutil.rmtree(extra)
    assert filter_data.main(argv) == 0
    assert not (dst / NEIGHBOUR_DIR).exists()
