"""Triton Python-backend model running a hepinfer backend (copied as ``model.py``).

This file is read by Triton's Python backend stub, not imported by hepinfer: it puts the
hepinfer that wrote the repository on ``sys.path`` (from ``hepinfer.json``) and hands every
request to ``hepinfer.serve.runtime.Runtime``.

Tensors cross the stub through DLPack, not ``as_numpy()`` / ``Tensor(name, array)``: the
stub's pybind11 speaks the NumPy 1 C ABI and reads NumPy 2 arrays as empty or wrong.
"""

import ctypes
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

# The stub takes ownership of an output's DLPack capsule and renames it "used_dlpack";
# NumPy's capsule destructor then complains on every request unless it reads "used_dltensor".
_USED = b"used_dltensor"
_set_capsule_name = ctypes.pythonapi.PyCapsule_SetName
_set_capsule_name.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _output(name: str, value: np.ndarray) -> Any:
    capsule = np.ascontiguousarray(value).__dlpack__()
    tensor = pb_utils.Tensor.from_dlpack(name, capsule)
    _set_capsule_name(capsule, _USED)
    return tensor


class TritonPythonModel:
    """One instance: one loaded hepinfer backend."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the backend named in hepinfer.json."""
        here = Path(args["model_repository"]) / args["model_version"]
        job = json.loads((here / "hepinfer.json").read_text())
        for path in reversed(job["sys_path"]):
            if path not in sys.path:
                sys.path.insert(0, path)
        from hepinfer.serve.runtime import Runtime

        self.runtime = Runtime(job)

    def execute(self, requests: list[Any]) -> list[Any]:
        """All requests Triton hands over at once (one batched call when it batched them)."""
        feeds = []
        for request in requests:
            get = pb_utils.get_input_tensor_by_name
            feeds.append({name: np.from_dlpack(get(request, name)) for name in self.runtime.input_names})
        responses = []
        for result in self.runtime.infer(feeds):
            if isinstance(result, str):
                error = pb_utils.TritonError(result)
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
            else:
                tensors = [_output(name, value) for name, value in result.items()]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
