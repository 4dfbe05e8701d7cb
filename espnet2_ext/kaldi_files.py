"""Reading and writing Kaldi-style ``key value`` files with line-accurate errors."""

import contextlib
import os
from pathlib import Path
from typing import Dict, Iterator, Mapping, Tuple, Union

from espnet2_ext.errors import at

PathLike = Union[str, Path]
# A data dir's sub-directory of segments that are only neighbours of its utterances (context-aware
# fine-tuning): the segments of the same recordings that a corpus's split left out, from the
# corpus's full release. A Kaldi data dir of its own, in the index space of the data dir's utt2rec;
# corpus readers write it, stages 2-4 carry it into the dump dir, the context plugin reads it.
NEIGHBOUR_DIR = "neighbours"


def iter_lines(path: PathLike) -> Iterator[Tuple[int, str, str]]:
    """Yield ``(lineno, key, value)`` for each non-empty line; value may be ''."""
    with open(path, "rb") as f:  # bytes: a line that is not UTF-8 is named, not a traceback
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise at(path, lineno, f"not UTF-8 text (byte {raw[err.start]:#04x} at column {err.start + 1})") from None
            if not line.strip():
                raise at(path, lineno, "empty line")
            key, _, value = line.partition(" ")
            yield lineno, key, value.strip()


def read_map(path: PathLike, allow_empty: bool = False) -> Dict[str, str]:
    """Read a ``key value`` file; duplicate keys and (unless allowed) empty values are errors."""
    out: Dict[str, str] = {}
    for lineno, key, value in iter_lines(path):
        if key in out:
            raise at(path, lineno, f"duplicate id '{key}'")
        if not value and not allow_empty:
            raise at(path, lineno, f"'{key}' has an empty value")
        out[key] = value
    return out


@contextlib.contextmanager
def replaced_atomically(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; it replaces ``path`` in one step on
    success, so that a job reading the old file (e.g. a recipe run on another target sharing the
    dump dir) never sees a half-written one, and an interrupted write leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # suffix: soundfile's format
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_map(path: PathLike, mapping: Mapping[str, str]) -> None:
    """Write ``key value`` lines sorted by key in C-locale (code point) order (atomically)."""
    with replaced_atomically(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for key in sorted(mapping):
            f.write(f"{key} {mapping[key]}\n" if mapping[key] != "" else f"{key}\n")
