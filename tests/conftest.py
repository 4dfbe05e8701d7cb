"""Shared test settings: single-threaded torch (the CI box has 2 cores)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
