"""What the ONNX Runtime backends (CPU and CUDA) share: reading output shapes off a session.

A private helper below both backend modules, so that neither imports the other. It imports no
framework: it reads the session object it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# ONNX tensor element types as ONNX Runtime names them -> numpy dtypes.
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}


def output_shapes(
    session: Any, input_shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[tuple[int, ...], Any]]:
    """(shape, dtype) of each output the session's declared shapes fix for these inputs.

    A dimension is known when the file fixes it, or names a symbol that an input also names
    (its size is read off that input). An output with any other dimension (a data-dependent
    size, a symbol of its own, no shape at all), or not a plain tensor, is left out: its
    shape is only known after a run. Statically, so that no inference is needed to learn it.
    """
    sizes: dict[str, int] = {}
    for arg in session.get_inputs():
        concrete = input_shapes.get(arg.name)
        if concrete is None or arg.shape is None or len(arg.shape) != len(concrete):
            continue
        for dim, size in zip(arg.shape, concrete, strict=True):
            if isinstance(dim, str) and dim:
                # A symbol two inputs give different sizes is not a size the outputs can take.
                sizes[dim] = size if sizes.get(dim, size) == size else -1
    out: dict[str, tuple[tuple[int, ...], Any]] = {}
    for arg in session.get_outputs():
        dtype = _DTYPES.get(arg.type)
        if dtype is None or arg.shape is None:
            continue
        shape = []
        for dim in arg.shape:
            size = dim if isinstance(dim, int) else sizes.get(dim, -1) if isinstance(dim, str) else -1
            if size < 0:
                break
            shape.append(size)
        else:
            out[arg.name] = (tuple(shape), dtype)
    return out
