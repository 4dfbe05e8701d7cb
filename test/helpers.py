"""Small fixture writers shared by the tests (imported as ``helpers``; pytest puts test/ on sys.path)."""

from pathlib import Path
from typing import List

import numpy as np
import soundfile


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def write_sine(path: Path, n_samples: int, fs: int = 16000) -> Path:
    soundfile.write(path, 0.3 * np.sin(np.arange(n_samples) * 2 * np.pi * 440 / fs), fs)
    return path
