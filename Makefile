# Two commands for a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

TRITON_VENV ?= $(VENV)-triton
TRITON_STAMP := $(TRITON_VENV)/.installed
ONNX2TORCH_VENV ?= $(VENV)-onnx2torch
ONNX2TORCH_STAMP := $(ONNX2TORCH_VENV)/.installed
MXNET_VENV ?= $(VENV)-mxnet
MXNET_STAMP := $(MXNET_VENV)/.installed

# The interpreter of the wheel smoke test's fresh venv (3.11 to 3.13 work: README.md).
SMOKE_PYTHON ?= $(PYTHON)

.PHONY: demo test test-fast wheel-smoke install triton hls4ml onnx2torch mxnet lint clean

# This machine's pins (torch 2.13.0 is the local CPU wheel; anything else may pull CUDA) are in
# constraints.txt, not in the package's metadata.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run with PYTHON=python3"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# The Triton server for `hepinfer serve` and its tests: nvidia-pytriton bundles a real
# tritonserver binary but pins numpy<2, so it lives in a venv of its own (only the binary is
# used; hepinfer finds it as $(VENV)-triton).
$(TRITON_STAMP):
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/python -m pip install --quiet --no-deps -c constraints.txt nvidia-pytriton
	touch $(TRITON_STAMP)

triton: $(STAMP) $(TRITON_STAMP)

# hls4ml 1.3 for the hls4ml backend, in a venv of its own that sees the main venv's packages
# (a .pth file): only the parent's conversion child uses it; the measured worker needs none.
# qonnx 1.0.0 is hls4ml's ONNX front end's clean-up (its other needs, onnx, onnxruntime,
# onnxscript, numpy, protobuf, come from the main venv); the rest are qonnx's own, pinned as found.
HLS4ML_VENV ?= .venv-hls4ml
HLS4ML_STAMP := $(HLS4ML_VENV)/.installed
# The Makefile is a prerequisite so that a venv made before a line was added (qonnx) gets it.
$(HLS4ML_STAMP): $(STAMP) Makefile
	test -x $(HLS4ML_VENV)/bin/python || $(BIN)/python -m venv $(HLS4ML_VENV)
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> $$($(HLS4ML_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/main-venv.pth
	$(HLS4ML_VENV)/bin/python -m pip install --quiet 'hls4ml==1.3.0' 'pydigitalwavetools==1.1' quantizers
	$(HLS4ML_VENV)/bin/python -m pip install --quiet --no-deps 'weaver-core==0.5.3'
	$(HLS4ML_VENV)/bin/python -m pip install --quiet 'qonnx==1.0.0' 'bitstring==5.0.0' 'clize==5.0.2' \
		'sigtools==4.0.1' 'toposort==1.10'
	touch $(HLS4ML_STAMP)

hls4ml: $(STAMP) $(HLS4ML_STAMP)

# Foreign ONNX files on PyTorch: onnx2torch imports torchvision, which has no build beside the
# main venv's torch 2.13.0+cpu; torch 2.14.1 + torchvision 0.29.1 (local disk, a CUDA build that
# runs on the CPU) work, in a venv of their own. hepinfer runs its pytorch worker for foreign
# ONNX files under this interpreter (and converts there), with hepinfer's src on PYTHONPATH:
# the venv holds only what that worker imports.
$(ONNX2TORCH_STAMP):
	test -x $(ONNX2TORCH_VENV)/bin/python || $(PYTHON) -m venv $(ONNX2TORCH_VENV)
	$(ONNX2TORCH_VENV)/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1 \
		'onnx2torch==1.5.15' 'onnx>=1.17' 'numpy>=1.26' 'psutil>=5.9' 'threadpoolctl>=3.5'
	touch $(ONNX2TORCH_STAMP)

onnx2torch: $(STAMP) $(ONNX2TORCH_STAMP)

# MXNet checkpoints (DeepAK8 as CMS first ran it): mxnet 1.9.1 needs numpy < 1.24, so it lives
# in a venv of its own; the mxnet worker runs under this interpreter.
$(MXNET_STAMP):
	test -x $(MXNET_VENV)/bin/python || $(PYTHON) -m venv $(MXNET_VENV)
	$(MXNET_VENV)/bin/python -m pip install --quiet 'mxnet==1.9.1' 'numpy<1.24' 'psutil>=5.9' \
		'threadpoolctl>=3.5'
	touch $(MXNET_STAMP)

mxnet: $(STAMP) $(MXNET_STAMP)

# The zoo sweep and its report, then the seed studies' quick mode (repository tooling).
demo: $(STAMP)
	$(BIN)/python -m hepinfer.demo
	$(BIN)/python benchmarks/seeds --quick --out results/seeds-quick
	@echo "seed studies page: $(CURDIR)/results/seeds-quick/seeds.md"
	@echo "demo report: $(CURDIR)/results/demo.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src benchmarks/seeds benchmarks/cmssw_originals

# The full suite, as CI runs it (.ci/run), then the wheel installed as a user gets it.
test: lint $(TRITON_STAMP) $(ONNX2TORCH_STAMP) $(MXNET_STAMP) $(HLS4ML_STAMP)
	$(BIN)/python -m pytest
	$(MAKE) wheel-smoke

# The edit loop: no worker processes or exports (slow), no real models (shared); under a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not shared" -q

# Build the wheel, install it non-editable (core dependencies only) into a fresh venv, run
# env, zoo, bench on a ../shared ONNX file and report from a directory outside the checkout.
wheel-smoke:
	.ci/wheel-smoke $(SMOKE_PYTHON) build/wheel-smoke

clean:
	rm -rf $(VENV) $(TRITON_VENV) $(ONNX2TORCH_VENV) $(MXNET_VENV) $(HLS4ML_VENV) build .pytest_cache .mypy_cache .ruff_cache results/demo*
