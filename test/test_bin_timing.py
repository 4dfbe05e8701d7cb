import json
import types

import numpy as np

from espnet2_ext.bin.timing import run_timed


class FakeRecognizer:
    def __call__(self, speech):
        return speech.shape[-1]


def test_run_timed_counts_audio_and_restores_the_class(tmp_path):
    module = types.SimpleNamespace(Speech2Text=FakeRecognizer)

    def main(argv):
        recognizer = module.Speech2Text()
        assert recognizer(np.zeros(16000)) == 16000
        recognizer(np.zeros((1, 8000)))

    module.main = main
    run_timed(module, "Speech2Text", ["--output_dir", str(tmp_path), "--other", "1"])
    timing = json.loads((tmp_path / "timing.json").read_text())
    assert timing["num_utts"] == 2
    assert timing["audio_seconds"] == 1.5
    assert timing["decode_seconds"] >= 0
    assert module.Speech2Text is FakeRecognizer


def test_run_timed_can_time_a_replacement_class(tmp_path):
    class Replacement(FakeRecognizer):
        pass

    module = types.SimpleNamespace(Speech2Text=FakeRecognizer)
    seen = []

    def run():
        seen.append(issubclass(module.Speech2Text, Replacement))
        module.Speech2Text()(np.zeros(160))

    run_timed(module, "Speech2Text", ["--output_dir", str(tmp_path)], run=run, base=Replacement)
    assert seen == [True]
    assert json.loads((tmp_path / "timing.json").read_text())["num_utts"] == 1
    assert module.Speech2Text is FakeRecognizer  # restored
