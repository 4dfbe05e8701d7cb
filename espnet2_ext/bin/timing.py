"""Run a stock ESPnet inference program and record its decoding time for RTF.

The stock program's model class is swapped for a subclass that times each ``__call__`` (the
decoding of one utterance, model loading excluded) and counts the audio it was given (as the
model's frontend counts it: ``espnet2_ext.audio.audio_samples``); the totals go to ``<output_dir>/timing.json`` for ``espnet2_ext.recipe.rtf``.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence

from espnet2_ext import registration  # noqa: F401  (before the stock module builds models)
from espnet2_ext.audio import SAMPLE_RATE, audio_samples


def timed_class(base: type, totals: Dict[str, float], model_attribute: str) -> type:
    """Subclass ``base`` so that calls on one utterance add to ``totals``; ``model_attribute``
    names the attribute of ``base`` that holds the ESPnet model."""

    class Timed(base):
        def __call__(self, speech, *args, **kwargs):
            start = time.perf_counter()
            result = super().__call__(speech, *args, **kwargs)
            totals["decode_seconds"] += time.perf_counter() - start
            totals["audio_seconds"] += audio_samples(getattr(self, model_attribute), speech) / SAMPLE_RATE
            totals["num_utts"] += 1
            return result

    Timed.__name__ = Timed.__qualname__ = f"Timed{base.__name__}"
    return Timed


def run_timed(
    module: ModuleType, class_name: str, model_attribute: str, cmd: Optional[Sequence[str]],
    run: Optional[Callable[[], None]] = None, base: Optional[type] = None,
) -> None:
    """Run ``module.main(cmd)`` (or ``run()``) with ``module.<class_name>`` (or ``base``) timed
    in its place; write timing.json."""
    argv: List[str] = list(cmd) if cmd is not None else sys.argv[1:]
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--output_dir")
    output_dir = parser.parse_known_args(argv)[0].output_dir
    totals = {"num_utts": 0, "audio_seconds": 0.0, "decode_seconds": 0.0}
    original = getattr(module, class_name)
    setattr(module, class_name, timed_class(base or original, totals, model_attribute))
    try:
        run() if run is not None else module.main(argv)
    finally:
        setattr(module, class_name, original)
    if output_dir is not None:
        path = Path(output_dir) / "timing.json"
        path.write_text(json.dumps(totals, indent=2) + "\n", encoding="utf-8")
