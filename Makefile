# Two commands on a fresh machine: `make run` serves the demo, `make test` runs the tests.
# The virtual environment is built once (.venv) and rebuilt when pyproject.toml changes.
# llama-cpp-python compiles from source the first time (about 5 minutes on 2 cores); pip keeps
# the built wheel in its cache, so later installs take seconds.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "revshare needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[server,embedded,dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/revshare serve --config revshare.toml --demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) .revshare build *.egg-info src/*.egg-info
