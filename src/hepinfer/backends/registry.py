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
    "hls4ml": "hepinfer.backends.hls4ml:Hls4mlBackend",
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


def availability() -> dict[str, dict[str, str]]:
    """Each built-in backend: ``{"status": "available", "version": ...}`` or
    ``{"status": "unavailable", "reason": ...}`` (imports no framework)."""
    from hepinfer.measure.environment import versions

    out = {}
    for name in names():
        cls = backend_class(name)
        reason = cls.unavailable_reason()
        if reason is None:
            vers = versions(cls.packages)
            out[name] = {"status": "available", "version": ", ".join(f"{p} {vers[p]}" for p in cls.packages)}
        else:
            out[name] = {"status": "unavailable", "reason": reason}
    return out


def usable(names: list[str], device: str = "cpu") -> tuple[list[str], dict[str, str]]:
    """The backends of ``names`` that are registered, run on ``device`` and are usable here;
    and for each of the others, why not (imports backend modules, no framework)."""
    keep, dropped = [], {}
    for name in names:
        try:
            cls = backend_class(name)
        except ConfigurationError as err:
            dropped[name] = str(err)
            continue
        reason = cls.unavailable_reason() if device in cls.devices else f"does not run on {device}"
        if reason is None:
            keep.append(name)
        else:
            dropped[name] = reason
    return keep, dropped
