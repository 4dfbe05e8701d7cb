"""Errors for bad user input, reported as ``file:line: message`` without a traceback."""

import functools
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence, Union


class DataError(ValueError):
    """Bad input data (a recipe's data dir, an audio file, a config...)."""


def at(path: Union[str, Path], lineno: Optional[int], message: str) -> DataError:
    """Build a DataError that names the file and, if known, the 1-based line."""
    where = f"{path}:{lineno}" if lineno is not None else f"{path}"
    return DataError(f"{where}: {message}")


def cli_entry(main: Callable[[Optional[Sequence[str]]], int]) -> Callable[..., int]:
    """Wrap a CLI ``main`` so that a DataError, or an input file that is not there, prints one
    clear line and exits 1."""

    @functools.wraps(main)
    def wrapper(argv: Optional[Sequence[str]] = None) -> int:
        try:
            return main(argv) or 0
        except DataError as err:
            print(f"ERROR: {err}", file=sys.stderr)
        except FileNotFoundError as err:
            if err.filename is None:  # not an open() of a named file: a bug, keep its traceback
                raise
            print(f"ERROR: {err.filename}: no such file or directory", file=sys.stderr)
        return 1

    return wrapper
