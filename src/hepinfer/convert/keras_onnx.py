"""Keras -> ONNX with tf2onnx, for the zoo's Keras twins, cached by content.

The export has a dynamic batch axis and the spec's tensor names (tf2onnx names the outputs
after the Keras layers; any that differ are renamed by position), and is recorded with the
tf2onnx version and the opset.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer._optional import require
from hepinfer.cache import cache_dir, digest, publish
from hepinfer.errors import ConversionError, first_line
from hepinfer.zoo import ModelRef, ModelSpec, entry

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class KerasExport:
    """An ONNX file made by tf2onnx from a Keras model, and how."""

    path: Path
    tf2onnx_version: str
    opset: int
    seconds: float
    cached: bool
    exporter: str = "tf2onnx"

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs and provenance."""
        return {
            "path": str(self.path),
            "exporter": self.exporter,
            "tf2onnx_version": self.tf2onnx_version,
            "opset": self.opset,
            "seconds": self.seconds,
            "cached": self.cached,
        }


def export_keras(ref: ModelRef, spec: ModelSpec, opset: int = DEFAULT_OPSET) -> KerasExport:
    """The zoo model's Keras twin as one .onnx file (batch axis dynamic), cached.

    The key covers the model and options, the source of the twin and of the PyTorch definition
    its weights come from, the opset and the versions of tf2onnx, TensorFlow and Keras.
    """
    tf2onnx = require("tf2onnx", "the Keras -> ONNX conversion")
    keras, tf = require("keras", "the Keras -> ONNX conversion"), require("tensorflow", "the Keras twins")

    from hepinfer.zoo import keras_twins

    sources = [
        inspect.getsource(keras_twins),
        inspect.getsource(importlib.import_module(f"hepinfer.zoo.{entry(ref.name).module}")),
    ]
    versions = (tf2onnx.__version__, tf.__version__, keras.__version__)
    key = digest(ref.to_dict(), opset, versions, digest(*sources))
    path = cache_dir() / "onnx" / f"{ref.name}-tf2onnx-{key}.onnx"
    if path.exists():
        return KerasExport(path, tf2onnx.__version__, opset, 0.0, cached=True)
    path.parent.mkdir(parents=True, exist_ok=True)

    model = keras_twins.build_keras(ref.name, dict(ref.params))
    signature = [
        tf.TensorSpec([None if d == "batch" else d for d in t.shape], t.dtype, name=t.name)
        for t in spec.inputs
    ]
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    except Exception as err:
        first = first_line(err)
        raise ConversionError(f"tf2onnx failed on {ref.label}: {type(err).__name__}: {first}") from err
    seconds = time.perf_counter() - start
    _rename(proto, [t.name for t in spec.inputs], [t.name for t in spec.outputs])
    tmp = path.with_suffix(".tmp.onnx")
    tmp.write_bytes(proto.SerializeToString())
    publish(tmp, path)
    return KerasExport(path, tf2onnx.__version__, opset, seconds, cached=False)


def _rename(proto: Any, inputs: list[str], outputs: list[str]) -> None:
    """Give the graph's inputs and outputs the spec's names, by position."""
    graph = proto.graph
    inits = {i.name for i in graph.initializer}
    real_inputs = [t for t in graph.input if t.name not in inits]
    mapping: dict[str, str] = {}
    for tensors, names in ((real_inputs, inputs), (list(graph.output), outputs)):
        if len(tensors) != len(names):
            raise ConversionError(f"tf2onnx wrote {len(tensors)} tensors where the spec has {names}")
        for t, name in zip(tensors, names, strict=True):
            if t.name != name:
                mapping[t.name] = name
                t.name = name
    if not mapping:
        return
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
