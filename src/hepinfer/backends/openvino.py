"""OpenVINO on CPU from ONNX: explicit precision, threads, performance hint, zero-copy I/O.

The precision is always set: OpenVINO's CPU plugin silently runs in bf16 on CPUs that have
it (AVX-512 BF16, AMX), which changes the numbers; here f32 is the default and bf16/f16 are
options, and the precision the compiled model reports is recorded.

The model is compiled in ``prepare`` for the concrete input shapes (a static shape is what
production code compiles; a dynamic one is slower), so its compile time is recorded in
``settings()`` as a one-off cost.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
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
    # off: each call passes a dict of arrays that OpenVINO copies in, and copies outputs out.
    zero_copy: bool = True
    # Compile for the concrete input shapes (off: keep the file's dynamic axes).
    static_shapes: bool = True


class OpenVinoBackend(Backend):
    """A compiled model on the CPU plugin, called through one InferRequest."""

    name: ClassVar[str] = "openvino"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    Options: ClassVar[type[BackendOptions]] = OpenVinoOptions
    packages: ClassVar[tuple[str, ...]] = ("openvino",)
    extra: ClassVar[str | None] = "openvino"

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Read the ONNX file into an ov.Model; compilation waits for the input shapes."""
        ov = require("openvino", "the openvino backend (pip install 'hepinfer[openvino]')")
        assert isinstance(options, OpenVinoOptions)
        self._ov = ov
        self.options = options
        self.spec = model.spec
        self.core = ov.Core()
        self.model = self.core.read_model(str(model.onnx_path()))
        self.input_names = [p.get_any_name() for p in self.model.inputs]
        self.output_names = [p.get_any_name() for p in self.model.outputs]
        self.compiled: Any = None
        self.compile_s: float | None = None
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

    def _compile(self, inputs: Mapping[str, np.ndarray]) -> None:
        if self.options.static_shapes:
            shapes = {n: list(inputs[n].shape) for n in self.input_names}
            if shapes != self.shapes or self.compiled is None:
                self.model.reshape(shapes)
                self.shapes = shapes
                self.compiled = None
        if self.compiled is None:
            t0 = time.perf_counter()
            self.compiled = self.core.compile_model(self.model, "CPU", self._config())
            self.compile_s = time.perf_counter() - t0
            self.request = self.compiled.create_infer_request()

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Compile for these shapes; bind inputs and outputs to shared buffers (zero copy)."""
        check_inputs(self.spec, inputs)
        # Own, writeable copies: a shared ov.Tensor refuses read-only arrays (broadcast masks).
        feeds = {n: np.array(inputs[n], order="C", copy=True) for n in self.input_names}
        self._compile(feeds)
        if not self.options.zero_copy:
            return _Copying({i: feeds[n] for i, n in enumerate(self.input_names)})
        ov = self._ov
        request = self.request
        for i, n in enumerate(self.input_names):
            request.set_input_tensor(i, ov.Tensor(feeds[n], shared_memory=True))
        # One call learns the output shapes; then the outputs are bound to numpy arrays.
        request.infer()
        outs = []
        for i in range(len(self.output_names)):
            first = request.get_output_tensor(i).data
            buf = np.empty(first.shape, dtype=first.dtype)
            request.set_output_tensor(i, ov.Tensor(buf, shared_memory=True))
            outs.append(buf)
        return _Shared(feeds, outs)

    def run(self, prepared: Prepared) -> Any:
        """One synchronous inference on the request."""
        if isinstance(prepared, _Copying):
            return self.request.infer(prepared.feeds)
        return self.request.infer()

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the file's names (the bound arrays, or copies of the request's tensors)."""
        if isinstance(prepared, _Shared):
            values = [b.copy() for b in prepared.outputs]
        else:
            values = [np.array(self.request.get_output_tensor(i).data) for i in range(len(self.output_names))]
        return dict(zip(self.output_names, values, strict=True))

    def settings(self) -> dict[str, Any]:
        """What the compiled model reports (precision, threads, streams), and its compile time."""
        out: dict[str, Any] = {
            "requested": self._config(),
            "zero_copy": self.options.zero_copy,
            "static_shapes": self.options.static_shapes,
            "compile_s": self.compile_s,
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
    feeds: dict[int, np.ndarray]


@dataclass
class _Shared:
    # The ov.Tensors share these buffers: they must outlive the request's use of them.
    inputs: dict[str, np.ndarray]
    outputs: list[np.ndarray]
