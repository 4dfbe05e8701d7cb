"""The inputs of espnet2_ext.bin.infer: any sampling rate and channel count becomes 16 kHz mono; a
wav.scp may name pipes; bad audio (unreadable, truncated, non-finite, missing, shorter than the
upstream's receptive field) is one line naming the argument or the wav.scp line."""

import re

import numpy as np
import pytest
import soundfile

from espnet2_ext.bin import infer
from espnet2_ext.errors import DataError
from helpers import write_lines, write_sine


def test_odd_rates_and_channels_become_16k_mono(tmp_path):
    soundfile.write(tmp_path / "stereo44k.wav", 0.1 * np.ones((44100, 2)), 44100)
    soundfile.write(tmp_path / "six_channels8k.flac", 0.1 * np.ones((8000, 6)), 8000)
    scp = write_lines(tmp_path / "wav.scp", [f"piped cat {write_sine(tmp_path / 'a.wav', 1600)} |"])
    got = dict(infer.inputs([str(tmp_path / "stereo44k.wav"), str(tmp_path / "six_channels8k.flac")], str(scp)))
    assert {utt: audio.shape for utt, audio in got.items()} == \
        {"stereo44k": (16000,), "six_channels8k": (16000,), "piped": (1600,)}
    assert np.allclose(got["stereo44k"][100:-100], 0.1, atol=1e-3)


@pytest.mark.parametrize("name, message", [
    ("garbage.wav", "cannot read audio"),
    ("truncated.wav", "truncated file"),
    ("nan.wav", "non-finite samples (NaN or Inf)"),
    ("missing.wav", "does not exist"),
    ("short.wav", "12.5 ms of audio is shorter than the upstream's receptive field (25 ms)"),
])
def test_bad_audio_is_one_line_naming_the_input(tmp_path, name, message):
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really a wav file" * 4)
    (tmp_path / "truncated.wav").write_bytes(write_sine(tmp_path / "whole.wav", 1600).read_bytes()[:144])
    write_sine(tmp_path / "short.wav", 200)
    soundfile.write(tmp_path / "nan.wav", np.r_[np.zeros(99), np.nan], 16000, subtype="FLOAT")
    with pytest.raises(DataError, match=rf"^{tmp_path}/{name}: .*{re.escape(message)}"):
        list(infer.inputs([str(tmp_path / name)], None))
    scp = write_lines(tmp_path / "wav.scp", [f"ok {tmp_path}/whole.wav", f"bad {tmp_path}/{name}"])
    with pytest.raises(DataError, match=rf"^{scp}:2: .*{re.escape(message)}"):
        list(infer.inputs([], str(scp)))
