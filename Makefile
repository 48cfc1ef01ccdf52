# Two commands for a newcomer: `make demo` and `make test`. Each creates or refreshes .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: demo test lint bench clean

# torch is installed first and pinned, so pip never resolves another (CUDA-sized) build for it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	touch $@

$(VENV)/.demo: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e ".[demo]" $(TORCH)
	touch $@

# GE2E's real weights ship in the resemblyzer wheel; --no-deps because its dependencies (webrtcvad) build from
# source and are not needed: earmark reads the weights file and never imports the package.
RESEMBLYZER := resemblyzer==0.1.4

$(VENV)/.dev: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]" $(TORCH)
	$(BIN)/pip install --quiet --no-deps $(RESEMBLYZER)
	touch $@ $(VENV)/.demo

$(VENV)/.bench: $(VENV)/.dev pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,bench]" $(TORCH)
	touch $@

demo: $(VENV)/.demo
	$(BIN)/earmark demo

test: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not gpu" -n auto

# Every script in benchmarks/, peers included, into benchmarks/results.md (about 30 minutes on 2 cores).
bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run_all.py --out benchmarks/results.md

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) earmark-demo .pytest_cache .mypy_cache .ruff_cache
