"""A small ctypes wrapper around the eSpeak NG library shipped by the ``espeakng-loader`` wheel.

eSpeak NG keeps synthesis state (pitch flutter phase, filter memories...) in static variables that
no API call resets, so the same text would come out slightly differently depending on what the
process spoke before. To make synthesis a pure function of its inputs, each call loads the library
afresh (``dlopen``, synchronous mode, samples collected from the callback), speaks, and unloads it
again (``dlclose``); this costs about 1 ms. eSpeak's random seed is fixed as well. The library is
process-global, so use one :class:`EspeakSynthesizer` per process and no threads.

:func:`phonemize` gives eSpeak NG's own phoneme transcription of a text (no audio is synthesised), so
a phoneme target describes exactly what the synthesiser spoke.
"""

import _ctypes
import contextlib
import ctypes
from typing import Iterator, List, Tuple

import espeakng_loader
import numpy as np
import soxr

from espnet2_ext.audio import SAMPLE_RATE  # the corpus is written at the upstreams' rate

# Constants from speak_lib.h / espeak_ng.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_RAND_SEED = 0
_VOLUME = 100
_PHONEMES_IPA = 0x02  # phonememode bit 1: IPA (UTF-8) instead of eSpeak's ASCII phoneme names
_PHONEME_SEPARATOR_SHIFT = 8  # phonememode bits 8-23: a character written between phonemes
# Stress marks precede the stressed vowel (within its token). The project's PER ignores stress
# (SUPERB's ARPAbet targets keep it: not comparable), and stripping it leaves every phoneme distinct. Length marks
# are part of eSpeak's phoneme names and are kept: without them i/iː and ɔ/ɔː would merge.
_STRESS_MARKS = str.maketrans("", "", "ˈˌ")

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """eSpeak NG refused a call (unknown voice, bad parameter...)."""


def _check(status: int, what: str) -> None:
    if status != 0:
        raise EspeakError(f"{what} failed with eSpeak status {status}")


def _declare_signatures(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    # The shipped library (1.52) has no espeak_TextToPhonemesWithTerminator; the clause
    # terminators it would report are not needed here anyway.
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p


@contextlib.contextmanager
def _fresh_library() -> Iterator[Tuple[ctypes.CDLL, int]]:
    """Load and initialise eSpeak NG with clean static state; yield ``(lib, native_rate)``."""
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    try:
        _declare_signatures(lib)
        native_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if native_rate <= 0:
            raise EspeakError(f"espeak_Initialize failed with {native_rate}")
        try:
            yield lib, native_rate
        finally:
            lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)


def _set_voice(lib: ctypes.CDLL, voice: str) -> None:
    _check(lib.espeak_SetVoiceByName(voice.encode()), f"setting voice '{voice}'")


def phonemize(text: str, voice: str) -> List[str]:
    """eSpeak NG's IPA phonemes of ``text`` as spoken by ``voice``, one list item per phoneme.

    The voice's accent matters (``en-us`` says ``w ʌ n`` for "one", ``en`` says ``w ɒ n``); its
    variant (``+m3``) does not. Stress marks are removed (see ``_STRESS_MARKS``). Word boundaries
    are not marked, as in SUPERB's phoneme recognition targets. The library is loaded afresh, as for
    synthesis, so the result depends on ``text`` and ``voice`` only.
    """
    buffer = ctypes.create_string_buffer(text.encode("utf-8"))
    position = ctypes.c_void_p(ctypes.addressof(buffer))  # eSpeak advances it clause by clause
    mode = _PHONEMES_IPA | (ord(" ") << _PHONEME_SEPARATOR_SHIFT)
    clauses: List[str] = []
    with _fresh_library() as (lib, _):
        _set_voice(lib, voice)
        while position.value:
            clauses.append(lib.espeak_TextToPhonemes(ctypes.byref(position), _CHARS_UTF8, mode).decode("utf-8"))
    # Separators also follow phonemes that have no IPA symbol, so split() drops empty items.
    stripped = (token.translate(_STRESS_MARKS) for token in " ".join(clauses).split())
    return [token for token in stripped if token]


class EspeakSynthesizer:
    """Text to 16 kHz float32 speech with eSpeak NG; equal inputs give equal samples."""

    def synthesize(self, text: str, voice: str, rate_wpm: int, pitch: int, pitch_range: int) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``en-us+m3``); returns float32 samples at 16 kHz.

        ``rate_wpm`` is eSpeak's rate in words per minute (80-450); ``pitch`` and ``pitch_range``
        are eSpeak's 0-100 scales.
        """
        samples, native_rate = self.synthesize_native(text, voice, rate_wpm, pitch, pitch_range)
        audio = samples.astype(np.float32) / 32768.0
        return soxr.resample(audio, native_rate, SAMPLE_RATE).astype(np.float32)

    def synthesize_native(
        self, text: str, voice: str, rate_wpm: int, pitch: int, pitch_range: int
    ) -> Tuple[np.ndarray, int]:
        """Like :meth:`synthesize` but returns eSpeak's int16 samples and their rate (22050 Hz)."""
        chunks: List[bytes] = []

        def collect(wav: "ctypes._Pointer[ctypes.c_short]", num_samples: int, _events: int) -> int:
            if num_samples > 0:
                chunks.append(ctypes.string_at(wav, num_samples * 2))
            return 0

        callback = _SynthCallback(collect)  # must stay referenced while eSpeak may call it
        with _fresh_library() as (lib, native_rate):
            lib.espeak_SetSynthCallback(callback)
            _set_voice(lib, voice)
            params = ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range),
                      (_PARAM_VOLUME, _VOLUME))
            for param, value in params:
                _check(lib.espeak_SetParameter(param, int(value), 0), f"setting parameter {param}={value}")
            _check(lib.espeak_ng_SetRandSeed(_RAND_SEED), "setting the random seed")
            encoded = text.encode("utf-8") + b"\0"
            _check(lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None),
                   "espeak_Synth")
            _check(lib.espeak_Synchronize(), "espeak_Synchronize")
        return np.frombuffer(b"".join(chunks), dtype=np.int16), native_rate
