# The two commands a new user needs: `make demo` (the main job on the embedded default model)
# and `make test` (the whole test suite). Both set up .venv first; set-up is idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/data

.PHONY: setup demo test test-fast test-acceptance bench

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/circuitlab demo --data-dir $(DATA)/nusax

test: setup
	$(PY) -m pytest tests

test-fast: setup
	$(PY) -m pytest tests -m "not slow and not acceptance"

# The whole demo from a fresh clone, offline (about 6 min on 2 cores); also part of `make test` and CI.
test-acceptance: setup
	$(PY) -m pytest tests -m acceptance

bench: setup
	$(PY) bench/bench_evaluate.py
