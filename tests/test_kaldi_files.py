from pathlib import Path

import pytest

from espnet2_ext.kaldi_files import replaced_atomically, write_map


def test_write_map_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "wav.scp"
    write_map(path, {"b": "2", "a": "1"})
    write_map(path, {"c": "3"})
    assert path.read_text() == "c 3\n"
    assert [p.name for p in path.parent.iterdir()] == ["wav.scp"]


def test_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "utt1.flac"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with replaced_atomically(path) as tmp:
            assert tmp.parent == path.parent and tmp.suffix == ".flac"  # soundfile picks the format by suffix
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["utt1.flac"]
