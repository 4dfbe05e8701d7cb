import json
import time
import types

import numpy as np

from espnet2_ext.bin.timing import run_timed

DECODE_SECONDS = 0.02


class FakeRecognizer:
    """Speech2Text's shape: an ``asr_model`` with a frontend, called on one utterance."""

    def __init__(self, frontend=None):
        self.asr_model = types.SimpleNamespace(frontend=frontend)

    def __call__(self, speech):
        time.sleep(DECODE_SECONDS)
        return speech.shape[0]


def test_run_timed_counts_audio_and_time_and_restores_the_class(tmp_path):
    module = types.SimpleNamespace(Speech2Text=FakeRecognizer)

    def main(argv):
        recognizer = module.Speech2Text()
        assert recognizer(np.zeros(16000)) == 16000
        recognizer(np.zeros((8000, 2)))  # channels last, as ESPnet's loader gives them

    module.main = main
    run_timed(module, "Speech2Text", "asr_model", ["--output_dir", str(tmp_path), "--other", "1"])
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["num_utts"] == 2
    assert timing["audio_seconds"] == 1.5
    assert 2 * DECODE_SECONDS <= timing["decode_seconds"] < 2 * DECODE_SECONDS + 1.0
    assert module.Speech2Text is FakeRecognizer


def test_run_timed_counts_the_audio_the_frontend_says_an_input_holds(tmp_path):
    frontend = types.SimpleNamespace(num_audio_samples=lambda speech: int(speech[:, 1].sum()))
    module = types.SimpleNamespace(Speech2Text=FakeRecognizer)
    speech = np.zeros((48000, 2))
    speech[16000:24000, 1] = 1.0  # half a second of segment inside three seconds of context

    module.main = lambda argv: module.Speech2Text(frontend)(speech)
    run_timed(module, "Speech2Text", "asr_model", ["--output_dir", str(tmp_path)])
    assert json.loads((tmp_path / "timing.json").read_text())["audio_seconds"] == 0.5


def test_run_timed_can_time_a_replacement_class(tmp_path):
    class Replacement(FakeRecognizer):
        pass

    module = types.SimpleNamespace(Speech2Text=FakeRecognizer)
    seen = []

    def run():
        seen.append(issubclass(module.Speech2Text, Replacement))
        module.Speech2Text()(np.zeros(160))

    run_timed(module, "Speech2Text", "asr_model", ["--output_dir", str(tmp_path)], run=run, base=Replacement)
    assert seen == [True]
    assert json.loads((tmp_path / "timing.json").read_text())["num_utts"] == 1
    assert module.Speech2Text is FakeRecognizer  # restored
