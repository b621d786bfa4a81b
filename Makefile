# BabyLlama Studio: `make studio` and `make test` set everything up from nothing (Python 3.11+).
# The venv is reused; dependencies are reinstalled only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 7860
HOST   ?= 127.0.0.1
WORKSPACE ?= workspace

# Offline and tidy: no hub calls or telemetry; caches inside the project (see docs/architecture.md).
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false
export HF_HOME := $(CURDIR)/.cache/hf
export GRADIO_TEMP_DIR := $(CURDIR)/.cache/gradio

.PHONY: studio test test-fast lint format setup clean

setup: $(STAMP)

# torch is pinned here (pyproject keeps a range): an unpinned torch pulls gigabytes of CUDA wheels.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0 -e '.[test]'
	@touch $(STAMP)

studio: $(STAMP)
	$(PY) launch.py --host $(HOST) --port $(PORT) --workspace $(WORKSPACE)

# Lint and format check (ruff: pycodestyle, pyflakes, import order, black-style layout; config in
# pyproject.toml; `make format` rewrites), then the whole
# suite, slow, browser and cluster tests included (CI runs this; cluster tests skip without root
# or slurm-wlm + munge, which .ci/run installs); the 15 slowest are listed at the end.
test: $(STAMP) lint
	@mkdir -p .cache/pytest
	$(PY) -m pytest -m "" --durations=15 --basetemp=.cache/pytest/tmp $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The quick loop while developing: no slow, browser or cluster tests.
test-fast: $(STAMP)
	@mkdir -p .cache/pytest
	$(PY) -m pytest --basetemp=.cache/pytest/tmp $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache

# Regenerate docs/cli.md and docs/config.md from the code (tests/core/cli/test_docs.py fails when stale).
.PHONY: docs
docs: $(STAMP)
	$(PY) -m core.cli.docs
