"""OpenVINO on CPU from ONNX: explicit precision, threads, performance hint, zero-copy I/O.

The precision is always set: OpenVINO's CPU plugin silently runs in bf16 on CPUs that have
it (AVX-512 BF16, AMX), which changes the numbers; here f32 is the default and bf16/f16 are
options, and the precision the compiled model reports is recorded.

The model is compiled in ``prepare`` for the concrete input shapes (a static shape is what
production code compiles; a dynamic one is slower), so its compile time is a one-off cost of
its own: ``compile_s()``, the record's ``one_off.compile_s`` (also in ``settings()``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.backends.base import (
    Backend,
    BackendOptions,
    ModelArtifact,
    Outputs,
    Prepared,
    check_inputs,
)
from hepinfer.errors import first_line

_PRECISIONS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}
_HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}
# Properties read back from the compiled model for the record.
_REPORTED = (
    "INFERENCE_PRECISION_HINT",
    "INFERENCE_NUM_THREADS",
    "PERFORMANCE_HINT",
    "NUM_STREAMS",
    "EXECUTION_MODE_HINT",
    "ENABLE_CPU_PINNING",
    "ENABLE_HYPER_THREADING",
)


@dataclass(frozen=True)
class OpenVinoOptions(BackendOptions):
    """OpenVINO compile settings. Defaults: f32, latency hint, zero-copy tensors."""

    precision: Literal["f32", "bf16", "f16"] = "f32"
    hint: Literal["latency", "throughput"] = "latency"
    # Inputs and outputs as ov.Tensors sharing the numpy buffers, set once on the request;
    # off: each call passes a dict of arrays that OpenVINO copies in (outputs are read after).
    zero_copy: bool = True
    # Compile for the concrete input shapes (off: keep the file's dynamic axes).
    static_shapes: bool = True


class OpenVinoBackend(Backend):
    """A compiled model on the CPU plugin; each prepared input set has its own InferRequest."""

    name: ClassVar[str] = "openvino"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    Options: ClassVar[type[BackendOptions]] = OpenVinoOptions
    packages: ClassVar[tuple[str, ...]] = ("openvino",)
    extra: ClassVar[str | None] = "openvino"
    # An InferRequest runs one inference at a time, and a static-shape compile reshapes the
    # one ov.Model in prepare: not safe to call from several threads at once.
    shareable: ClassVar[bool] = False

    @classmethod
    def unsupported(cls, onnx_path: Path) -> list[str] | None:
        """Operators the ONNX frontend cannot convert (read_model's report), else the types
        of the nodes the CPU plugin does not take (``query_model``); no compile, no inference."""
        import re

        ov = require("openvino", "the openvino backend (pip install 'hepinfer[openvino]')")
        core = ov.Core()
        try:
            model = core.read_model(str(onnx_path))
        except Exception as err:
            m = re.search(r"No conversion rule found for operations: ([^\n]+)", str(err))
            if m:
                return sorted({op.strip().rsplit("-", 1)[0] for op in m.group(1).split(",") if op.strip()})
            return [f"does not load: {first_line(err)}"]
        supported = core.query_model(model, "CPU")
        return sorted(
            {op.get_type_name() for op in model.get_ops() if op.get_friendly_name() not in supported}
        )

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Read the ONNX file into an ov.Model; compilation waits for the input shapes."""
        ov = require("openvino", "the openvino backend")
        assert isinstance(options, OpenVinoOptions)
        self._ov = ov
        self.options = options
        self.spec = model.spec
        self.core = ov.Core()
        self.model = self.core.read_model(str(model.onnx_path()))
        self.input_names = [p.get_any_name() for p in self.model.inputs]
        self.output_names = [p.get_any_name() for p in self.model.outputs]
        self.compiled: Any = None
        self._compile_s: float | None = None
        self.shapes: dict[str, list[int]] = {}

    def _config(self) -> dict[str, Any]:
        o = self.options
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": _PRECISIONS[o.precision],
            "PERFORMANCE_HINT": _HINTS[o.hint],
        }
        if o.threads > 0:
            config["INFERENCE_NUM_THREADS"] = o.threads
        return config

    def _compile(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """The compiled model for these input shapes: the last one, or compiled anew.

        A prepared set holds its own compiled model, so one prepared for other shapes stays
        valid when the next shapes are compiled.
        """
        if self.options.static_shapes:
            shapes = {n: list(inputs[n].shape) for n in self.input_names}
            if shapes != self.shapes or self.compiled is None:
                self.model.reshape(shapes)
                self.shapes = shapes
                self.compiled = None
        if self.compiled is None:
            t0 = time.perf_counter()
            self.compiled = self.core.compile_model(self.model, "CPU", self._config())
            self._compile_s = time.perf_counter() - t0
        return self.compiled

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Compile for these shapes; a request of its own, with shared buffers (zero copy).

        Outputs whose shape the compiled model fixes are bound to numpy arrays made here;
        others (dynamic shapes) stay the request's. No inference runs.
        """
        check_inputs(self.spec, inputs)
        # Own, writeable copies: a shared ov.Tensor refuses read-only arrays (broadcast masks).
        feeds = {n: np.array(inputs[n], order="C", copy=True) for n in self.input_names}
        compiled = self._compile(feeds)
        request = compiled.create_infer_request()
        if not self.options.zero_copy:
            return _Copying(compiled, request, {i: feeds[n] for i, n in enumerate(self.input_names)})
        ov = self._ov
        tensors = []
        for i, n in enumerate(self.input_names):
            tensor = ov.Tensor(feeds[n], shared_memory=True)
            request.set_input_tensor(i, tensor)
            tensors.append(tensor)
        outs: list[np.ndarray | None] = []
        for i, port in enumerate(compiled.outputs):
            shape = port.get_partial_shape()
            if not shape.is_static:
                outs.append(None)
                continue
            buf = np.empty(tuple(shape.to_shape()), dtype=port.get_element_type().to_dtype())
            tensor = ov.Tensor(buf, shared_memory=True)
            request.set_output_tensor(i, tensor)
            tensors.append(tensor)
            outs.append(buf)
        return _Shared(compiled, request, feeds, outs, tensors)

    def compile_s(self) -> float | None:
        """``compile_model``'s seconds for the last shapes compiled (None before any prepare)."""
        return self._compile_s

    def run(self, prepared: Prepared) -> Any:
        """One synchronous inference on the prepared set's request; outputs stay in its tensors."""
        if isinstance(prepared, _Copying):
            return prepared.request.infer(prepared.feeds, share_outputs=True)
        return prepared.request.infer(share_outputs=True)

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the file's names: copies of the bound arrays or of the request's tensors."""
        request = prepared.request
        bound = prepared.outputs if isinstance(prepared, _Shared) else [None] * len(self.output_names)
        values = [
            np.array(request.get_output_tensor(i).data) if b is None else b.copy()
            for i, b in enumerate(bound)
        ]
        return dict(zip(self.output_names, values, strict=True))

    def settings(self) -> dict[str, Any]:
        """What the compiled model reports (precision, threads, streams), and its compile time."""
        out: dict[str, Any] = {
            "requested": self._config(),
            "zero_copy": self.options.zero_copy,
            "static_shapes": self.options.static_shapes,
            "compile_s": self._compile_s,
            "device": self.core.get_property("CPU", "FULL_DEVICE_NAME"),
            "capabilities": list(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        }
        if self.compiled is not None:
            for prop in _REPORTED:
                with contextlib.suppress(RuntimeError):  # a property this plugin lacks
                    out[prop.lower()] = str(self.compiled.get_property(prop))
        return out


@dataclass
class _Copying:
    compiled: Any
    request: Any
    feeds: dict[int, np.ndarray]


@dataclass
class _Shared:
    # The request's tensors wrap these arrays: both live as long as this object does, and the
    # request (with its compiled model) is this object's alone.
    compiled: Any
    request: Any
    inputs: dict[str, np.ndarray]
    # The bound output arrays; None for an output of dynamic shape (read from the request).
    outputs: list[np.ndarray | None]
    tensors: list[Any]
