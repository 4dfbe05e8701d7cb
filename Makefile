# make install: .venv with the pinned stack; make demo: the embedded default recipe end to end;
# make test: the test suite; make bench: the benchmarks (bench/results/). See README.md.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

# pip<25: newer pip rejects a dependency of espnet (ci_sdr) that declares a direct URL in an extra.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "pip<25"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: install
	cd egs2/mini_slue/asr1 && ./run.sh

# The slowest tests are listed at the end: the suite must stay within 15 minutes in a fresh clone.
test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n auto --dist loadfile --durations=15

# One line per benchmark; each writes bench/results/<name>.json. Best run on a quiet machine.
bench: install
	$(PY) -m bench.encoder
	$(PY) -m bench.context

clean:
	rm -rf $(VENV)
