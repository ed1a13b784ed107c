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

.PHONY: demo test install triton onnx2torch mxnet lint clean

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

demo: $(STAMP)
	$(BIN)/python -m hepinfer.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

test: lint $(TRITON_STAMP) $(ONNX2TORCH_STAMP) $(MXNET_STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(TRITON_VENV) $(ONNX2TORCH_VENV) $(MXNET_VENV) .pytest_cache .mypy_cache .ruff_cache results/demo*
