"""Tests for espnet2_ext.context.neighbours."""

from pathlib import Path

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.context.neighbours import NeighbourMap

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


def test_filtered_utterances_are_missing_neighbours(utt2rec: Path) -> None:
    kept = {"a0", "a1", "a3", "b2"}  # a2 and b0 were filtered out
    neighbours = NeighbourMap.from_file(utt2rec, valid=kept)
    assert {u: neighbours.neighbours(u, (-1,))[-1] for u in sorted(kept)} == {
        "a0": None, "a1": "a0", "a3": None, "b2": None}
    assert NeighbourMap.from_file(utt2rec).neighbours("a2", (1, -2)) == {1: "a3", -2: "a0"}
