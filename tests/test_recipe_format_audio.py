"""Tests for espnet2_ext.recipe.format_audio (stage 3)."""

from pathlib import Path
from typing import List

import kaldiio
import numpy as np
import pytest
import soundfile

from espnet2_ext.errors import DataError
from espnet2_ext.recipe import format_audio
from helpers import write_lines, write_sine


def read(path: Path) -> List[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_resample_8k_to_16k_and_downmix(tmp_path):
    write_sine(tmp_path / "a.wav", 8000, 8000)  # 1 s at 8 kHz
    stereo = np.stack([np.full(1600, 0.4), np.full(1600, 0.2)], axis=1)  # 0.1 s at 16 kHz
    soundfile.write(tmp_path / "b.wav", stereo, 16000)
    scp = write_lines(tmp_path / "wav.scp", [f"a {tmp_path}/a.wav", f"b {tmp_path}/b.wav"])
    out = tmp_path / "out"
    assert format_audio.main(["--fs", "16000", str(scp), str(out)]) == 0
    assert read(out / "wav.scp") == [f"a {out}/data/a.flac", f"b {out}/data/b.flac"]
    assert read(out / "utt2num_samples") == ["a 16000", "b 1600"]
    info = soundfile.info(out / "data" / "a.flac")
    assert (info.samplerate, info.channels, info.frames, info.format) == (16000, 1, 16000, "FLAC")
    mono, _ = soundfile.read(out / "data" / "b.flac")
    assert mono.shape == (1600,) and np.allclose(mono, 0.3, atol=1e-4)


def test_segments_cut_exact_sample_counts(tmp_path):
    ramp = (np.arange(16000) - 8000).astype(np.int16)  # 1 s; sample i has value i - 8000
    soundfile.write(tmp_path / "rec.wav", ramp, 16000, subtype="PCM_16")
    scp = write_lines(tmp_path / "wav.scp", [f"rec {tmp_path}/rec.wav"])
    # 0.29 s * 16000 is 4639.99999 in floating point: rounding, not truncation, gives sample 4640
    segments = write_lines(tmp_path / "segments", ["s1 rec 0.25 0.5", "s2 rec 0.29 0.3", "s3 rec 0.5 1.02"])
    out = tmp_path / "out"
    format_audio.format_shard(scp, out, fs=16000, segments=segments)
    assert read(out / "utt2num_samples") == ["s1 4000", "s2 160", "s3 8000"]  # s3 ends within the tolerance
    s1, _ = soundfile.read(out / "data" / "s1.flac", dtype="int16")
    s2, _ = soundfile.read(out / "data" / "s2.flac", dtype="int16")
    assert np.array_equal(s1, ramp[4000:8000]) and s2[0] == 4640 - 8000


def test_segment_outside_audio(tmp_path):
    write_sine(tmp_path / "rec.wav", 16000, 16000)
    scp = write_lines(tmp_path / "wav.scp", [f"rec {tmp_path}/rec.wav"])
    segments = write_lines(tmp_path / "segments", ["s1 rec 0.0 0.5", "s2 rec 0.9 1.2"])
    with pytest.raises(DataError, match=rf"^{segments}:2: segment 0.9-1.2 s is outside 'rec' \(1.000 s long\)$"):
        format_audio.format_shard(scp, tmp_path / "out", 16000, segments=segments)
    write_lines(segments, ["s1 rec 0.0 0.5", "s2 other 0.0 0.5"])
    with pytest.raises(DataError, match=rf"^{segments}:2: unknown recording 'other'"):
        format_audio.format_shard(scp, tmp_path / "out", 16000, segments=segments)


def test_pipe_and_ark_inputs(tmp_path):
    write_sine(tmp_path / "a.wav", 3200, 16000)
    ark = {"b": (8000, np.arange(800, dtype=np.int16))}  # a wav record at 8 kHz inside a Kaldi ark
    kaldiio.save_ark(str(tmp_path / "b.ark"), ark, scp=str(tmp_path / "b.scp"))
    ark_entry = read(tmp_path / "b.scp")[0].split()[1]
    scp = write_lines(tmp_path / "wav.scp", [f"a cat {tmp_path}/a.wav |", f"b {ark_entry}"])
    out = tmp_path / "out"
    format_audio.format_shard(scp, out, 16000)
    assert read(out / "utt2num_samples") == ["a 3200", "b 1600"]


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{d}/missing.wav", "audio file '{d}/missing.wav' does not exist"),
        ("{d}/garbage.wav", "cannot read audio '{d}/garbage.wav': "),
        ("{d}/empty.wav", "empty audio '{d}/empty.wav' (0 samples)"),
        ("false |", "command 'false |' failed with exit code 1"),
        ("true |", "command 'true |' wrote no audio"),
        ("{d}/truncated.wav", "cannot read audio '{d}/truncated.wav': truncated file: its header declares "
                              "3200 bytes of audio, it holds 100"),
        ("{d}/truncated.flac", "cannot read audio '{d}/truncated.flac': "),
        ("{d}/nan.wav", "audio '{d}/nan.wav' has non-finite samples (NaN or Inf)"),
        ("{d}/inf.wav", "audio '{d}/inf.wav' has non-finite samples (NaN or Inf)"),
    ],
)
def test_errors_name_the_wav_scp_line(tmp_path, entry, message):
    write_sine(tmp_path / "ok.wav", 160, 16000)
    write_sine(tmp_path / "empty.wav", 0, 16000)
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really a wav file" * 4)
    for name, bad in (("nan", np.nan), ("inf", -np.inf)):  # float files can hold them
        soundfile.write(tmp_path / f"{name}.wav", np.r_[np.zeros(99), bad, np.zeros(60)], 16000, subtype="FLOAT")
    for suffix in ("wav", "flac"):  # an interrupted copy: the header promises more than the file holds
        write_sine(tmp_path / f"whole.{suffix}", 1600 if suffix == "wav" else 16000, 16000)
        whole = (tmp_path / f"whole.{suffix}").read_bytes()
        (tmp_path / f"truncated.{suffix}").write_bytes(whole[:144] if suffix == "wav" else whole[:len(whole) // 3])
    scp = write_lines(tmp_path / "wav.scp", [f"a {tmp_path}/ok.wav", "b " + entry.format(d=tmp_path)])
    with pytest.raises(DataError) as err:
        format_audio.format_shard(scp, tmp_path / "out", 16000)
    assert str(err.value).startswith(f"{scp}:2: " + message.format(d=tmp_path))


def test_idempotent(tmp_path):
    write_sine(tmp_path / "a.wav", 4000, 8000)
    scp = write_lines(tmp_path / "wav.scp", [f"a {tmp_path}/a.wav"])
    argv = ["--fs", "16000", "--audio_format", "flac", str(scp), str(tmp_path / "out")]
    format_audio.main(argv)
    first = [(tmp_path / "out" / n).read_bytes() for n in ("wav.scp", "utt2num_samples", "data/a.flac")]
    format_audio.main(argv)
    assert [(tmp_path / "out" / n).read_bytes() for n in ("wav.scp", "utt2num_samples", "data/a.flac")] == first


def test_merge_shards_sorted_and_unique(tmp_path):
    for shard, utts in (("s1", ["c", "d"]), ("s2", ["a", "b"])):
        (tmp_path / shard).mkdir()
        write_lines(tmp_path / shard / "wav.scp", [f"{u} {shard}/data/{u}.flac" for u in utts])
        write_lines(tmp_path / shard / "utt2num_samples", [f"{u} {len(u) * 100}" for u in utts])
    dump = tmp_path / "dump"
    assert format_audio.main(["merge", str(dump), str(tmp_path / "s1"), str(tmp_path / "s2")]) == 0
    assert read(dump / "wav.scp") == ["a s2/data/a.flac", "b s2/data/b.flac", "c s1/data/c.flac", "d s1/data/d.flac"]
    assert read(dump / "utt2num_samples") == ["a 100", "b 100", "c 100", "d 100"]
    write_lines(tmp_path / "s2" / "wav.scp", ["a s2/data/a.flac", "c s2/data/c.flac"])
    with pytest.raises(DataError, match=rf"^{tmp_path}/s2/wav.scp:2: duplicate id 'c' \(also in "):
        format_audio.merge_shards(dump, [tmp_path / "s1", tmp_path / "s2"])


def test_metadata_copy(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("wav.scp", "segments", "text", "text.ner", "utt2spk", "spk2utt", "utt2rec"):
        write_lines(data / name, [f"{name} content"])
    dump = tmp_path / "dump"
    assert format_audio.main(["copy-meta", str(data), str(dump)]) == 0
    assert sorted(p.name for p in dump.iterdir()) == ["feats_type", "spk2utt", "text", "text.ner", "utt2rec", "utt2spk"]
    assert read(dump / "feats_type") == ["raw"] and read(dump / "text.ner") == ["text.ner content"]
