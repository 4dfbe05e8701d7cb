"""Tests for the eSpeak NG wrapper."""

import numpy as np
import pytest

from espnet2_ext.corpora.espeak import EspeakError, EspeakSynthesizer, phonemize

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


def test_phonemes_of_known_words() -> None:
    assert phonemize("one two three", "en-us") == ["w", "ʌ", "n", "t", "uː", "θ", "ɹ", "iː"]
    assert phonemize("one two three", "en")[:3] == ["w", "ɒ", "n"]  # the accent sets the phonemes
    assert phonemize("one two three", "en-us+m3") == phonemize("one two three", "en-us")  # the variant not


def test_phonemes_are_clean_and_deterministic() -> None:
    first = phonemize(TEXT, "en-us+klatt3")
    assert first == ["ð", "ə", "k", "ə", "m", "ɪ", "ɾ", "i", "ɐ", "d", "ɑː", "p", "t", "ᵻ", "d",
                     "ð", "ə", "ɹ", "ᵻ", "p", "ɔːɹ", "t"]
    EspeakSynthesizer().synthesize("something else entirely", "en+f2", 170, 30, 20)
    phonemize("hello world", "en-gb-x-rp")
    assert phonemize(TEXT, "en-us+klatt3") == first
    assert all(token and not set(token) & set("ˈˌ _") for token in first)  # no stress, one phoneme each


def test_length_marks_keep_phonemes_apart() -> None:
    # The happY vowel and the FLEECE vowel differ only in length: stripping ː would merge them.
    assert phonemize("committee three", "en-us")[-5:] == ["ɾ", "i", "θ", "ɹ", "iː"]


def test_phonemes_cover_all_clauses() -> None:
    assert phonemize("one, two. three! committee", "en-us") == phonemize("one two three committee", "en-us")
    assert phonemize("", "en-us") == []


def test_phonemize_unknown_voice_raises() -> None:
    with pytest.raises(EspeakError, match="setting voice 'xx-nowhere'"):
        phonemize(TEXT, "xx-nowhere")
