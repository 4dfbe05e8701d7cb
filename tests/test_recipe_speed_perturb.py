"""Tests for espnet2_ext.recipe.speed_perturb (stage 2)."""

from pathlib import Path
from typing import List

import numpy as np
import pytest
import soundfile

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import datadir, speed_perturb
from helpers import write_lines, write_sine


def read(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def make_src(tmp_path: Path) -> Path:
    """Two 1 s utterances of speaker A; the second one's audio comes from a pipe."""
    src = tmp_path / "train"
    src.mkdir()
    write_sine(tmp_path / "u1.wav", 16000)
    write_sine(tmp_path / "u2.wav", 16000)
    write_lines(src / "wav.scp", [f"A_u1 {tmp_path}/u1.wav", f"A_u2 cat {tmp_path}/u2.wav |"])
    write_lines(src / "text", ["A_u1 one", "A_u2 two"])
    write_lines(src / "text.ner", ["A_u1 ONE", "A_u2 TWO"])
    write_lines(src / "utt2spk", ["A_u1 A", "A_u2 A"])
    write_lines(src / "spk2utt", ["A A_u1 A_u2"])
    write_lines(src / "utt2rec", ["A_u1 r1 0", "A_u2 r1 1"])
    return src


def test_prefixes_lengths_and_metadata(tmp_path):
    src, dst, audio = make_src(tmp_path), tmp_path / "train_sp", tmp_path / "sp_audio"
    argv = ["--factors", "0.9 1.0 1.1", "--fs", "16000", "--audio_dir", str(audio), str(src), str(dst)]
    assert speed_perturb.main(argv) == 0
    assert read(dst / "utt2spk") == [
        "A_u1 A", "A_u2 A", "sp0.9-A_u1 sp0.9-A", "sp0.9-A_u2 sp0.9-A", "sp1.1-A_u1 sp1.1-A", "sp1.1-A_u2 sp1.1-A",
    ]
    assert read(dst / "spk2utt") == ["A A_u1 A_u2", "sp0.9-A sp0.9-A_u1 sp0.9-A_u2", "sp1.1-A sp1.1-A_u1 sp1.1-A_u2"]
    assert read(dst / "text.ner")[2:4] == ["sp0.9-A_u1 ONE", "sp0.9-A_u2 TWO"]
    assert read(dst / "utt2rec")[4:] == ["sp1.1-A_u1 sp1.1-r1 0", "sp1.1-A_u2 sp1.1-r1 1"]
    assert read(dst / "wav.scp")[:3] == [f"A_u1 {tmp_path}/u1.wav", f"A_u2 cat {tmp_path}/u2.wav |",
                                         f"sp0.9-A_u1 {audio}/sp0.9-A_u1.flac"]
    # sox speed f: duration / f at the same rate (16000 / 0.9 = 17777.8, 16000 / 1.1 = 14545.5 samples)
    for utt, expected in (("sp0.9-A_u1", 17778), ("sp0.9-A_u2", 17778), ("sp1.1-A_u1", 14545)):
        info = soundfile.info(audio / f"{utt}.flac")
        assert info.samplerate == 16000 and abs(info.frames - expected) <= 1
    # the pitch goes up with the speed: 440 Hz becomes 440 * 1.1 = 484 Hz
    fast, _ = soundfile.read(audio / "sp1.1-A_u1.flac")
    spectrum = np.abs(np.fft.rfft(fast))
    assert abs(np.argmax(spectrum) * 16000 / len(fast) - 484) < 2
    datadir.validate(dst)


def test_segments_are_scaled_and_run_is_idempotent(tmp_path):
    src = make_src(tmp_path)
    write_lines(src / "wav.scp", [f"r1 {tmp_path}/u1.wav"])
    write_lines(src / "segments", ["A_u1 r1 0.00 0.45", "A_u2 r1 0.45 0.99"])
    dst, audio = tmp_path / "sp", tmp_path / "audio"
    speed_perturb.speed_perturb(src, dst, ["0.9", "1.1"], 16000, audio, nj=2)
    assert read(dst / "segments") == [
        "sp0.9-A_u1 sp0.9-r1 0.000 0.500", "sp0.9-A_u2 sp0.9-r1 0.500 1.100",
        "sp1.1-A_u1 sp1.1-r1 0.000 0.409", "sp1.1-A_u2 sp1.1-r1 0.409 0.900",
    ]
    assert read(dst / "wav.scp") == [f"sp0.9-r1 {audio}/sp0.9-r1.flac", f"sp1.1-r1 {audio}/sp1.1-r1.flac"]
    datadir.validate(dst)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*dst.iterdir(), *audio.iterdir()] if p.is_file()}
    speed_perturb.speed_perturb(src, dst, ["0.9", "1.1"], 16000, audio, nj=1)
    after = {p.name: p.read_bytes() for p in [*dst.iterdir(), *audio.iterdir()] if p.is_file()}
    assert after == {name: data for name, (data, _) in before.items()}
    assert (audio / "sp0.9-r1.flac").stat().st_mtime_ns == before["sp0.9-r1.flac"][1]  # not rewritten


def test_unreadable_audio_names_the_source_line(tmp_path):
    src = make_src(tmp_path)
    (tmp_path / "u1.wav").unlink()
    with pytest.raises(DataError, match=rf"^{src}/wav.scp:1: audio file '{tmp_path}/u1.wav' does not exist$"):
        speed_perturb.speed_perturb(src, tmp_path / "sp", ["1.1"], 16000, tmp_path / "audio")
    assert not list((tmp_path / "audio").iterdir())


def test_bad_factors_are_usage_errors(tmp_path):
    for factors in ("0.9 x", "0.9 0.90", "-1"):
        with pytest.raises(SystemExit):
            speed_perturb.main(["--factors", factors, "--audio_dir", str(tmp_path), str(tmp_path), str(tmp_path)])
