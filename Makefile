# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

TRITON_VENV ?= $(VENV)-triton
TRITON_STAMP := $(TRITON_VENV)/.installed

.PHONY: demo test install triton hls4ml lint clean

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

# hls4ml 1.3 for the hls4ml backend, in a venv of its own that sees the main venv's packages
# (a .pth file): only the parent's conversion child uses it; the measured worker needs none.
HLS4ML_VENV ?= .venv-hls4ml
HLS4ML_STAMP := $(HLS4ML_VENV)/.installed
$(HLS4ML_STAMP): $(STAMP)
	test -x $(HLS4ML_VENV)/bin/python || $(BIN)/python -m venv $(HLS4ML_VENV)
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> $$($(HLS4ML_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/main-venv.pth
	$(HLS4ML_VENV)/bin/python -m pip install --quiet 'hls4ml==1.3.0' 'pydigitalwavetools==1.1' quantizers
	$(HLS4ML_VENV)/bin/python -m pip install --quiet --no-deps 'weaver-core==0.5.3'
	touch $(HLS4ML_STAMP)

hls4ml: $(STAMP) $(HLS4ML_STAMP)

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
