# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

TRITON_VENV ?= $(VENV)-triton
TRITON_STAMP := $(TRITON_VENV)/.installed

.PHONY: demo test install triton lint clean

# torch is installed first and pinned: 2.13.0 is the local CPU wheel; anything else may pull CUDA.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run with PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# The Triton server for `hepinfer serve` and its tests: nvidia-pytriton bundles a real
# tritonserver binary but pins numpy<2, so it lives in a venv of its own (only the binary is
# used; hepinfer finds it as $(VENV)-triton).
$(TRITON_STAMP):
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet --no-deps 'nvidia-pytriton==0.7.0'
	touch $(TRITON_STAMP)

triton: $(STAMP) $(TRITON_STAMP)

demo: $(STAMP)
	$(BIN)/python -m hepinfer.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

test: lint $(TRITON_STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(TRITON_VENV) .pytest_cache .mypy_cache .ruff_cache results/demo*
