"""Backends by name. Importing this module imports no framework.

A name maps to ``module:Class``; a user may also name any importable ``package.module:Class``
(a plug-in, or a test's backend), which the worker imports the same way.
"""

from __future__ import annotations

import importlib

from hepinfer.backends.base import Backend
from hepinfer.errors import ConfigurationError

BUILTIN: dict[str, str] = {
    "onnxruntime": "hepinfer.backends.onnxruntime:OnnxRuntimeBackend",
    "pytorch": "hepinfer.backends.pytorch:PyTorchBackend",
    "openvino": "hepinfer.backends.openvino:OpenVinoBackend",
    "sofie": "hepinfer.backends.sofie:SofieBackend",
    "tensorflow": "hepinfer.backends.tensorflow:TensorFlowBackend",
    "pytorch-cuda": "hepinfer.backends.pytorch_cuda:PyTorchCudaBackend",
    "onnxruntime-cuda": "hepinfer.backends.onnxruntime_gpu:OnnxRuntimeCudaBackend",
    "onnxruntime-trt": "hepinfer.backends.onnxruntime_gpu:OnnxRuntimeTrtBackend",
    "tensorrt": "hepinfer.backends.tensorrt:TensorRTBackend",
    "triton": "hepinfer.backends.triton:TritonBackend",
    "mxnet": "hepinfer.backends.mxnet:MXNetBackend",
}


def names() -> list[str]:
    """The built-in backend names."""
    return list(BUILTIN)


def check_name(name: str) -> str:
    """The name if it is a known backend or a ``module:Class`` path, else a clear error."""
    if name in BUILTIN or ":" in name:
        return name
    raise ConfigurationError(f"unknown backend '{name}': choose from {', '.join(BUILTIN)}")


def backend_class(name: str) -> type[Backend]:
    """Import and return the backend class (imports its module, not yet its framework)."""
    target = BUILTIN.get(check_name(name), name)
    module_name, _, cls_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(f"backend '{name}' cannot be imported from {target}: {err}") from err
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"backend '{name}' ({target}) is not a hepinfer Backend")
    return cls
