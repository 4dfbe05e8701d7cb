"""Tests for espnet2_ext.recipe.neighbours."""

from pathlib import Path

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.recipe.neighbours import NeighbourMap, main

# Recording A has segments 0-3; recording B lost its segment 1 before utt2rec was written.
UTT2REC = """\
a0 A 0
a1 A 1
a2 A 2
a3 A 3
b0 B 0
b2 B 2
"""


@pytest.fixture
def utt2rec(tmp_path: Path) -> Path:
    path = tmp_path / "utt2rec"
    path.write_text(UTT2REC)
    return path


def test_previous_and_next_stop_at_recording_edges(utt2rec: Path) -> None:
    nmap = NeighbourMap.from_file(utt2rec)
    assert nmap.neighbours("a1") == {-1: "a0", 1: "a2"}
    assert (nmap.previous("a0"), nmap.next("a0")) == (None, "a1")
    assert (nmap.previous("a3"), nmap.next("a3")) == ("a2", None)
    assert (nmap.previous("b0"), nmap.next("b0")) == (None, None)  # b1 does not exist
    assert nmap.position("b2") == ("B", 2)


def test_window_of_two(utt2rec: Path) -> None:
    nmap = NeighbourMap.from_file(utt2rec)
    assert nmap.neighbours("a1", (-2, -1, 1, 2)) == {-2: None, -1: "a0", 1: "a2", 2: "a3"}
    assert nmap.neighbours("b2", (-2, -1, 1, 2)) == {-2: "b0", -1: None, 1: None, 2: None}


def test_filtered_neighbours_are_none(utt2rec: Path) -> None:
    nmap = NeighbourMap.from_file(utt2rec, valid={"a0", "a1", "a3", "b0", "b2"})
    assert nmap.neighbours("a1") == {-1: "a0", 1: None}
    assert nmap.previous("a3") is None
    assert nmap.recordings() == {"A": ["a0", "a1", "a3"], "B": ["b0", "b2"]}


def test_unknown_utterance_is_a_key_error(utt2rec: Path) -> None:
    with pytest.raises(KeyError):
        NeighbourMap.from_file(utt2rec).next("zz")


@pytest.mark.parametrize(
    "content, message",
    [
        ("a0 A 0\na0 A 1\n", "2: duplicate id 'a0'"),
        ("a0 A 0\na1 A x\n", "2: index 'x' of 'a1' is not a non-negative integer"),
        ("a0 A -1\n", "1: index '-1' of 'a0' is not a non-negative integer"),
        ("a0 A\n", "1: expected 'uttid recid index', got 'a0 A'"),
        ("a0 A 0\nb0 B 0\na1 A 0\n", "3: 'a1' has the same recording and index as 'a0'"),
    ],
)
def test_bad_utt2rec_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "utt2rec"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        NeighbourMap.from_file(path)
    assert str(err.value) == f"{path}:{message}"


def test_cli_writes_previous_neighbours_of_kept_utterances(tmp_path: Path, utt2rec: Path) -> None:
    wav_scp = tmp_path / "wav.scp"
    wav_scp.write_text("a0 x.wav\na1 x.wav\na3 x.wav\nb2 x.wav\n")  # a2 and b0 were filtered out
    out = tmp_path / "prev.scp"
    rc = main(["write-scp", "--utt2rec", str(utt2rec), "--wav_scp", str(wav_scp), "--offset", "-1", "--out", str(out)])
    assert rc == 0
    assert out.read_text() == "a1 a0\n"


def test_cli_without_filter_and_next_offset(tmp_path: Path, utt2rec: Path) -> None:
    out = tmp_path / "next.scp"
    assert main(["write-scp", "--utt2rec", str(utt2rec), "--offset", "1", "--out", str(out)]) == 0
    assert out.read_text() == "a0 a1\na1 a2\na2 a3\n"


def test_cli_rejects_offset_zero(tmp_path: Path, utt2rec: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["write-scp", "--utt2rec", str(utt2rec), "--offset", "0", "--out", str(tmp_path / "o")]) == 1
    assert "offset must not be 0" in capsys.readouterr().err
