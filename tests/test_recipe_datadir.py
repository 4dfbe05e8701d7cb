"""Tests for espnet2_ext.recipe.datadir (validate, fix, spk2utt, combine, subset)."""

import logging
from pathlib import Path
from typing import List

import pytest

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import datadir
from helpers import write_lines, write_sine


def make_dir(tmp_path: Path) -> Path:
    """3 utterances, speakers A (2) and B (1), one 0.5 s wav each."""
    d = tmp_path / "train"
    d.mkdir()
    utts = ["A_u1", "A_u2", "B_u1"]
    write_lines(d / "wav.scp", [f"{u} {write_sine(tmp_path / f'{u}.wav', 8000)}" for u in utts])
    write_lines(d / "text", ["A_u1 hello world", "A_u2 good  morning", "B_u1 bye"])
    write_lines(d / "text.ner", ["A_u1 hello", "A_u2 morning", "B_u1 bye"])
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A", "B_u1 B"])
    write_lines(d / "spk2utt", ["A A_u1 A_u2", "B B_u1"])
    write_lines(d / "utt2rec", ["A_u1 r1 0", "A_u2 r1 1", "B_u1 r2 0"])
    return d


def read(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def expect_error(d: Path, message: str, audio_check: bool = True) -> None:
    with pytest.raises(DataError) as err:
        datadir.validate(d, audio_check=audio_check)
    assert str(err.value) == message


def test_valid_dir_summary(tmp_path):
    assert datadir.validate(make_dir(tmp_path)) == {"utterances": 3, "speakers": 2, "recordings": 3}


def test_corrupt_wav_names_wav_scp_line(tmp_path):
    d = make_dir(tmp_path)
    (tmp_path / "A_u2.wav").write_bytes(b"\x00garbage bytes, not audio" * 10)
    with pytest.raises(DataError, match=rf"^{d}/wav.scp:2: cannot read audio '{tmp_path}/A_u2.wav': "):
        datadir.validate(d)
    datadir.validate(d, audio_check=False)


def test_truncated_wav_names_wav_scp_line(tmp_path):
    d = make_dir(tmp_path)
    whole = (tmp_path / "A_u2.wav").read_bytes()
    (tmp_path / "A_u2.wav").write_bytes(whole[:len(whole) // 2])  # an interrupted copy
    expect_error(d, f"{d}/wav.scp:2: cannot read audio '{tmp_path}/A_u2.wav': truncated file: its header "
                    f"declares {len(whole) - 44} bytes of audio, it holds {len(whole) // 2 - 44}")


def test_text_that_is_not_utf8_names_file_and_line(tmp_path):
    d = make_dir(tmp_path)
    (d / "text").write_bytes("A_u1 hello world\nA_u2 caf\u00e9\nB_u1 bye\n".encode("latin-1"))
    expect_error(d, f"{d}/text:2: not UTF-8 text (byte 0xe9 at column 9)", audio_check=False)


def test_missing_and_empty_wav(tmp_path):
    d = make_dir(tmp_path)
    (tmp_path / "B_u1.wav").unlink()
    expect_error(d, f"{d}/wav.scp:3: audio file '{tmp_path}/B_u1.wav' does not exist")
    write_sine(tmp_path / "B_u1.wav", 0)
    expect_error(d, f"{d}/wav.scp:3: empty audio '{tmp_path}/B_u1.wav' (0 samples)")


def test_pipe_entries_are_not_opened(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "wav.scp", ["A_u1 cat /does/not/exist |", "A_u2 sox x.wav -t wav - |", "B_u1 false |"])
    assert datadir.validate(d)["recordings"] == 3


def test_empty_transcripts(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "text.ner", ["A_u1 hello", "A_u2", "B_u1 bye"])
    expect_error(d, f"{d}/text.ner:2: empty transcript for 'A_u2'", audio_check=False)
    write_lines(d / "text", ["A_u1 hello", "A_u2 x", "B_u1 "])
    expect_error(d, f"{d}/text:3: empty transcript for 'B_u1'", audio_check=False)


def test_duplicate_before_later_problems(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "text", ["A_u1 a", "A_u1 b", "A_u2 c", "B_u1"])
    expect_error(d, f"{d}/text:2: duplicate id 'A_u1'", audio_check=False)


def test_unsorted_file(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "utt2spk", ["A_u1 A", "B_u1 B", "A_u2 A"])
    expect_error(
        d, f"{d}/utt2spk:3: not sorted: 'A_u2' comes after 'B_u1' (use `datadir fix` to sort)", audio_check=False
    )


def test_malformed_lines(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A extra", "B_u1 B"])
    expect_error(d, f"{d}/utt2spk:2: malformed line: expected 2 fields, found 3", audio_check=False)
    write_lines(d / "utt2spk", ["A_u1 A", "", "B_u1 B"])
    expect_error(d, f"{d}/utt2spk:2: empty line", audio_check=False)
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A", "B_u1 B"])
    write_lines(d / "utt2rec", ["A_u1 r1 0", "A_u2 r1 one", "B_u1 r2 0"])
    expect_error(d, f"{d}/utt2rec:2: malformed line: non-numeric field in 'A_u2 r1 one'", audio_check=False)


def test_missing_and_extra_utterances(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "text", ["A_u1 a", "B_u1 b"])
    expect_error(d, f"{d}/text: no entry for 'A_u2' (listed at {d}/utt2spk:2)", audio_check=False)
    write_lines(d / "text", ["A_u1 a", "A_u2 b", "B_u1 c", "C_u1 d"])
    expect_error(d, f"{d}/text:4: 'C_u1' is not in utt2spk", audio_check=False)


def test_spk2utt_must_match_utt2spk(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "spk2utt", ["A A_u1", "B B_u1"])
    expect_error(d, f"{d}/spk2utt:1: utterances of 'A' do not match utt2spk: expected 'A_u1 A_u2'", False)
    write_lines(d / "spk2utt", ["A A_u1 A_u2"])
    expect_error(d, f"{d}/spk2utt: speaker 'B' of utt2spk is missing", audio_check=False)


def test_speaker_prefix_only_warns(tmp_path, caplog):
    d = make_dir(tmp_path)
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A", "B_u1 C"])
    write_lines(d / "spk2utt", ["A A_u1 A_u2", "C B_u1"])
    with caplog.at_level(logging.WARNING):
        datadir.validate(d, audio_check=False)
    assert "1 utterance ids do not start with their speaker id (e.g. 'B_u1' of 'C')" in caplog.text


def test_neighbour_index_must_be_unique(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "utt2rec", ["A_u1 r1 0", "A_u2 r1 0", "B_u1 r2 0"])
    expect_error(d, f"{d}/utt2rec:2: index 0 of recording 'r1' is also used by 'A_u1'", audio_check=False)


def make_segmented_dir(tmp_path: Path) -> Path:
    """Recording r1 (1 s) with two segments; segment ids keyed by speaker A."""
    d = make_dir(tmp_path)
    for name in ("text.ner", "utt2rec"):
        (d / name).unlink()
    write_lines(d / "wav.scp", [f"r1 {write_sine(tmp_path / 'r1.wav', 16000)}"])
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r1 0.40 0.90", "B_u1 r1 0.90 1.00"])
    return d


def test_segments_checks(tmp_path):
    d = make_segmented_dir(tmp_path)
    assert datadir.validate(d) == {"utterances": 3, "speakers": 2, "recordings": 1}
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r2 0.40 0.90", "B_u1 r1 0.90 1.00"])
    expect_error(d, f"{d}/segments:2: unknown recording 'r2' (not in wav.scp)")
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r1 0.90 0.90", "B_u1 r1 0.90 1.00"])
    expect_error(d, f"{d}/segments:2: bad times for 'A_u2': start 0.90 must be >= 0 and < end 0.90")
    # 1.04 s is within the 0.05 s tolerance of the 1 s recording, 1.10 is not
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r1 0.40 0.90", "B_u1 r1 0.90 1.04"])
    datadir.validate(d)
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r1 0.40 0.90", "B_u1 r1 0.90 1.10"])
    expect_error(d, f"{d}/segments:3: end time 1.10 is after the end of 'r1' (1.000 s)")
    datadir.validate(d, audio_check=False)


def test_fix_keeps_utterances_present_everywhere(tmp_path, caplog):
    d = make_dir(tmp_path)
    write_lines(d / "text", ["B_u1 bye", "A_u1 hello world", "C_u1 extra"])  # unsorted, A_u2 missing
    write_lines(d / "wav.scp", read(d / "wav.scp")[:2])  # B_u1 has no audio
    with caplog.at_level(logging.INFO):
        assert datadir.fix(d) == 1
    assert read(d / "text") == ["A_u1 hello world"]
    assert read(d / "utt2spk") == ["A_u1 A"]
    assert read(d / "spk2utt") == ["A A_u1"]
    assert read(d / "utt2rec") == ["A_u1 r1 0"]
    assert read(d / "text.ner") == ["A_u1 hello"]
    # of A_u1, A_u2, B_u1, C_u1: A_u2 lacks text; C_u1 lacks text.ner, utt2rec, utt2spk, wav.scp; B_u1 wav.scp
    expected = "(1 not in text, 1 not in text.ner, 1 not in utt2rec, 1 not in utt2spk, 2 not in wav.scp)"
    assert f"{d}: kept 1 utterances {expected}" in caplog.text
    datadir.validate(d)


def test_fix_with_segments_drops_unknown_recordings(tmp_path):
    d = make_segmented_dir(tmp_path)
    write_lines(d / "wav.scp", [f"r1 {tmp_path / 'r1.wav'}", f"r9 {tmp_path / 'r9.wav'}"])
    write_lines(d / "segments", ["A_u1 r1 0.00 0.40", "A_u2 r1 0.40 0.90", "B_u1 r3 0.90 1.00"])
    assert datadir.fix(d) == 2
    assert read(d / "wav.scp") == [f"r1 {tmp_path / 'r1.wav'}"]
    assert read(d / "spk2utt") == ["A A_u1 A_u2"]


def test_fix_refuses_duplicates(tmp_path):
    d = make_dir(tmp_path)
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A", "A_u1 A", "B_u1 B"])
    with pytest.raises(DataError, match=rf"^{d}/utt2spk:3: duplicate id 'A_u1'$"):
        datadir.fix(d)


def test_combine(tmp_path):
    a = make_dir(tmp_path)
    b = tmp_path / "other"
    b.mkdir()
    write_lines(b / "wav.scp", [f"C_u1 {tmp_path / 'A_u1.wav'}"])
    write_lines(b / "text", ["C_u1 new"])
    write_lines(b / "utt2spk", ["C_u1 C"])
    dst = tmp_path / "all"
    assert datadir.main(["combine", str(dst), str(a), str(b)]) == 0
    assert read(dst / "utt2spk") == ["A_u1 A", "A_u2 A", "B_u1 B", "C_u1 C"]
    assert read(dst / "spk2utt") == ["A A_u1 A_u2", "B B_u1", "C C_u1"]
    assert not (dst / "text.ner").exists()  # only in one source
    write_lines(b / "text", ["A_u2 clash"])
    write_lines(b / "utt2spk", ["A_u2 A"])
    write_lines(b / "wav.scp", ["A_u2 x.wav"])
    with pytest.raises(DataError, match=rf"^{b}/wav.scp:1: duplicate id 'A_u2' \(also in {a}/wav.scp\)$"):
        datadir.combine_datadirs([datadir.load_datadir(a), datadir.load_datadir(b)], dst)


def test_combine_segmented_with_unsegmented(tmp_path):
    """The unsegmented dir's utterances become whole-recording segments, end = file duration."""
    a = make_dir(tmp_path)
    seg = tmp_path / "seg"
    seg.mkdir()
    write_lines(seg / "wav.scp", [f"rec1 {write_sine(tmp_path / 'rec1.wav', 32000)}"])
    write_lines(seg / "segments", ["S_u1 rec1 0.00 1.00", "S_u2 rec1 1.00 2.00"])
    write_lines(seg / "text", ["S_u1 one", "S_u2 two"])
    write_lines(seg / "utt2spk", ["S_u1 S", "S_u2 S"])
    dst = tmp_path / "all"
    assert datadir.main(["combine", str(dst), str(seg), str(a)]) == 0
    whole = [f"{u} {u} 0.000 0.500" for u in ("A_u1", "A_u2", "B_u1")]  # 8000 samples at 16 kHz
    assert read(dst / "segments") == whole + ["S_u1 rec1 0.00 1.00", "S_u2 rec1 1.00 2.00"]
    assert read(dst / "wav.scp")[0] == f"A_u1 {tmp_path / 'A_u1.wav'}" and len(read(dst / "wav.scp")) == 4
    assert datadir.validate(dst) == {"utterances": 5, "speakers": 3, "recordings": 4}
    write_lines(a / "wav.scp", ["A_u1 sox x.wav -t wav - |", *read(a / "wav.scp")[1:]])
    with pytest.raises(DataError, match=rf"^{a}/wav.scp:1: cannot give a pipe or ark entry a segment"):
        datadir.combine_datadirs([datadir.load_datadir(seg), datadir.load_datadir(a)], dst)


def test_cli_reports_first_problem(tmp_path, capsys):
    d = make_dir(tmp_path)
    write_lines(d / "text", ["A_u1 a", "A_u2", "B_u1 c"])
    assert datadir.main(["validate", str(d)]) == 1
    assert capsys.readouterr().err == f"ERROR: {d}/text:2: empty transcript for 'A_u2'\n"
    assert datadir.main(["validate", str(tmp_path / "nope")]) == 1
    assert "data directory does not exist" in capsys.readouterr().err


def test_subset_spreads_over_the_sorted_ids_and_keeps_the_files_consistent(tmp_path):
    d = make_dir(tmp_path)
    dst = tmp_path / "train_2"
    assert datadir.main(["subset", str(d), "2", str(dst)]) == 0
    assert read(dst / "utt2spk") == ["A_u1 A", "A_u2 A"]  # ids 0 and 3 * 1 // 2 = 1
    assert read(dst / "text.ner") == ["A_u1 hello", "A_u2 morning"]
    assert read(dst / "spk2utt") == ["A A_u1 A_u2"]
    assert datadir.validate(dst) == {"utterances": 2, "speakers": 1, "recordings": 2}
    subset = datadir.subset_datadir(datadir.load_datadir(d), 1)
    assert list(subset["wav.scp"].values) == ["A_u1"]
    write_lines(d / "utt2spk", ["A_u1 A", "A_u2 A", "B_u1 B", "B_u2 B"])
    write_lines(d / "wav.scp", [f"{u} {tmp_path / 'A_u1.wav'}" for u in ("A_u1", "A_u2", "B_u1", "B_u2")])
    write_lines(d / "text", ["A_u1 a", "A_u2 b", "B_u1 c", "B_u2 d"])
    write_lines(d / "text.ner", ["A_u1 a", "A_u2 b", "B_u1 c", "B_u2 d"])
    write_lines(d / "utt2rec", ["A_u1 r1 0", "A_u2 r1 1", "B_u1 r2 0", "B_u2 r2 1"])
    assert list(datadir.subset_datadir(datadir.load_datadir(d), 2)["text"].values) == ["A_u1", "B_u1"]
    assert list(datadir.subset_datadir(datadir.load_datadir(d), 2, first=True)["text"].values) == ["A_u1", "A_u2"]
    with pytest.raises(DataError, match=rf"^{d}/utt2spk: cannot take 5 of its 4 utterances$"):
        datadir.subset_datadir(datadir.load_datadir(d), 5)
