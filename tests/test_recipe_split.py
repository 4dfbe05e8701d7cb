"""Tests for espnet2_ext.recipe.split (split_scp.pl equivalent)."""

from pathlib import Path
from typing import List

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import split
from helpers import write_lines


def keys(path: Path) -> List[str]:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()]


def test_split_evenly_gives_extra_lines_to_first_parts():
    assert split.split_evenly(10, 3) == [4, 3, 3]
    assert split.split_evenly(9, 3) == [3, 3, 3]
    assert split.split_evenly(2, 2) == [1, 1]


def test_contiguous_parts_keep_lines(tmp_path):
    scp = write_lines(tmp_path / "wav.scp", [f"u{i} /a/u{i}.wav" for i in range(7)] + ["u7 sox x.wav -t wav - |"])
    outputs = split.split_scp(scp, 3, tmp_path / "split", "wav.JOB.scp")
    assert outputs == [tmp_path / "split" / f"wav.{i}.scp" for i in (1, 2, 3)]
    assert [keys(o) for o in outputs] == [["u0", "u1", "u2"], ["u3", "u4", "u5"], ["u6", "u7"]]
    assert outputs[2].read_text() == "u6 /a/u6.wav\nu7 sox x.wav -t wav - |\n"


def test_more_parts_than_lines_is_an_error(tmp_path):
    scp = write_lines(tmp_path / "wav.scp", ["a x", "b y"])
    with pytest.raises(DataError, match=r"wav.scp: cannot split 2 lines into 3 parts$"):
        split.split_scp(scp, 3, tmp_path, "JOB.scp")


def test_speakers_stay_together_and_parts_balance(tmp_path):
    # speaker sizes 3, 1, 1, 2, 1 (8 lines); 2 parts: cumulative 4 after speaker b is exactly half
    utts = ["a1", "a2", "a3", "b1", "c1", "d1", "d2", "e1"]
    scp = write_lines(tmp_path / "text", [f"{u} text of {u}" for u in utts])
    utt2spk = write_lines(tmp_path / "utt2spk", [f"{u} {u[0]}" for u in utts])
    parts = split.split_scp(scp, 2, tmp_path, "text.JOB", utt2spk=utt2spk)
    assert [keys(p) for p in parts] == [["a1", "a2", "a3", "b1"], ["c1", "d1", "d2", "e1"]]
    # 3 parts, targets 8/3 and 16/3 lines: cumulative counts 3,4,5,7,8 -> boundaries after 3 and 5
    parts = split.split_scp(scp, 3, tmp_path, "text3.JOB", utt2spk=utt2spk)
    assert [keys(p) for p in parts] == [["a1", "a2", "a3"], ["b1", "c1"], ["d1", "d2", "e1"]]
    # 5 parts for 5 speakers: one speaker each
    parts = split.split_scp(scp, 5, tmp_path, "text5.JOB", utt2spk=utt2spk)
    assert [len(keys(p)) for p in parts] == [3, 1, 1, 2, 1]
    with pytest.raises(DataError, match=r"cannot split 5 speakers into 6 parts$"):
        split.split_scp(scp, 6, tmp_path, "text6.JOB", utt2spk=utt2spk)


def test_non_contiguous_speaker_is_an_error(tmp_path):
    scp = write_lines(tmp_path / "wav.scp", ["a1 x", "b1 y", "a2 z"])
    utt2spk = write_lines(tmp_path / "utt2spk", ["a1 a", "a2 a", "b1 b"])
    with pytest.raises(DataError, match=r"wav.scp:3: lines of speaker 'a' are not contiguous"):
        split.split_scp(scp, 2, tmp_path, "JOB.scp", utt2spk=utt2spk)


def test_cli(tmp_path):
    scp = write_lines(tmp_path / "wav.scp", ["a x", "b y", "c z"])
    out = [tmp_path / "o1", tmp_path / "sub" / "o2"]
    assert split.main([str(scp), *map(str, out)]) == 0
    assert [keys(o) for o in out] == [["a", "b"], ["c"]]
    assert split.main([str(scp), *(str(tmp_path / f"p{i}") for i in range(4))]) == 1
