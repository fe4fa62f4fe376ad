# Two commands on a fresh machine: `make run` serves the demo, `make test` runs the tests.
# The virtual environment is built once (.venv) and rebuilt when pyproject.toml changes.
# llama-cpp-python compiles from source the first time (about 5 minutes on 2 cores) into a wheel
# kept under $(LLAMA_WHEELS), so later installs take seconds.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# llama.cpp for any x86-64 with AVX2, not for the building machine's own CPU (`-march=native`): a
# native build on a CPU with AMX runs Q4_K weights through ggml's AMX kernels, which crash in the
# first decode (ggml-org/llama.cpp#20824), and a wheel made for one CPU may not run on another.
# The wheel is built without pip's cache, which keys a wheel by its source alone and would hand
# back a build made with other flags.
LLAMA_VERSION ?= 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS ?= $(HOME)/.cache/revshare/wheels/llama-cpp-python-$(LLAMA_VERSION)-avx2

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "revshare needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) (about 5 minutes on 2 cores)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-cache-dir --no-deps \
			-w $(LLAMA_WHEELS) 'llama-cpp-python==$(LLAMA_VERSION)'; \
	fi
	$(BIN)/pip install --quiet $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
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
