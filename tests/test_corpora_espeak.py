"""Tests for the eSpeak NG wrapper."""

import numpy as np
import pytest

from espnet2_ext.corpora.espeak import EspeakError, EspeakSynthesizer

TEXT = "the committee adopted the report"


def test_synthesis_is_deterministic_whatever_was_spoken_before() -> None:
    synthesizer = EspeakSynthesizer()
    first = synthesizer.synthesize(TEXT, "en-us+klatt3", 130, 50, 60)
    synthesizer.synthesize("something else entirely", "en+f2", 170, 30, 20)
    again = synthesizer.synthesize(TEXT, "en-us+klatt3", 130, 50, 60)
    assert first.dtype == np.float32
    assert np.array_equal(first, again)
    assert 1.2 < len(first) / 16000 < 3.5  # 32 characters at roughly 10-25 characters per second


def test_native_output_is_22050_hz_int16() -> None:
    samples, rate = EspeakSynthesizer().synthesize_native(TEXT, "en-us", 130, 50, 50)
    assert rate == 22050
    assert samples.dtype == np.int16
    resampled = EspeakSynthesizer().synthesize(TEXT, "en-us", 130, 50, 50)
    assert abs(len(resampled) - len(samples) * 16000 / 22050) <= 2


def test_slower_rate_gives_longer_audio() -> None:
    synthesizer = EspeakSynthesizer()
    slow = synthesizer.synthesize(TEXT, "en-us", 110, 50, 50)
    assert len(slow) > len(synthesizer.synthesize(TEXT, "en-us", 170, 50, 50))


def test_unknown_voice_raises() -> None:
    with pytest.raises(EspeakError, match="setting voice 'xx-nowhere'"):
        EspeakSynthesizer().synthesize(TEXT, "xx-nowhere", 130, 50, 50)
