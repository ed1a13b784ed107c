"""Broken backends for the validation tests: the real ONNX Runtime backend with one bug each.

Worker processes import these as ``validate_backends:PerturbBackend`` (tests/ on PYTHONPATH),
and ``tiny_tagger`` writes the small particle-list model they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hepinfer.backends.base import Outputs, Prepared
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend

# Where PerturbBackend moves one element: the first output, this event, this class index.
PERTURBED_EVENT = 3
PERTURBED_INDEX = 1
# NanOnPaddedBackend returns NaN for events with at most this many real particles.
NAN_AT_MOST = 2
# BatchVariantBackend shifts every output by this much per extra event in the batch.
BATCH_SHIFT = 1e-3


class PerturbBackend(OnnxRuntimeBackend):
    """Moves one output element up by one ULP (event 3, index 1 of the first output)."""

    name: ClassVar[str] = "perturb"

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        out = super().fetch(prepared, raw)
        first = self.output_names[0]
        y = out[first].copy()
        if y.shape[0] > PERTURBED_EVENT:
            y[PERTURBED_EVENT, PERTURBED_INDEX] = np.nextafter(
                y[PERTURBED_EVENT, PERTURBED_INDEX], np.float32(np.inf)
            )
        out[first] = y
        return out


class NanOnPaddedBackend(OnnxRuntimeBackend):
    """Returns NaN for events with at most NAN_AT_MOST real particles (mostly padding)."""

    name: ClassVar[str] = "nan_on_padded"

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        out = super().fetch(prepared, raw)
        real = np.asarray(prepared["mask"]).sum(axis=-1)
        few = real <= NAN_AT_MOST
        return {
            k: np.where(few.reshape((-1,) + (1,) * (v.ndim - 1)), np.float32(np.nan), v)
            for k, v in out.items()
        }


class BatchVariantBackend(OnnxRuntimeBackend):
    """Outputs that depend on the batch size: shifted by BATCH_SHIFT per extra event."""

    name: ClassVar[str] = "batch_variant"

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        out = super().fetch(prepared, raw)
        return {k: (v + np.float32(BATCH_SHIFT * (v.shape[0] - 1))).astype(v.dtype) for k, v in out.items()}


def tiny_tagger(path: Path) -> Path:
    """A particle-list classifier: x[N, n_p, 3] and mask[N, n_p] -> softmax prob[N, 2].

    Per particle a ReLU layer, masked, summed over particles, then a dense layer and softmax.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    w1 = rng.normal(0, 1, (3, 6)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (6, 2)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Unsqueeze", ["mask", "axis2"], ["m3"]),
        helper.make_node("Mul", ["r", "m3"], ["rm"]),
        helper.make_node("ReduceSum", ["rm", "axis1"], ["s"], keepdims=0),
        helper.make_node("MatMul", ["s", "w2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_tagger",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "n_p", 3]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", "n_p"]),
        ],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 2])],
        initializer=[
            numpy_helper.from_array(w1, "w1"),
            numpy_helper.from_array(w2, "w2"),
            numpy_helper.from_array(np.array([2], np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


class EnvShiftBackend(OnnxRuntimeBackend):
    """Adds the float in $HEPINFER_TEST_SHIFT to every output (0 when unset): shows that a
    worker sees the environment its job was started with."""

    name: ClassVar[str] = "env_shift"

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        import os

        shift = np.float32(os.environ.get("HEPINFER_TEST_SHIFT", "0"))
        return {k: (v + shift).astype(v.dtype) for k, v in super().fetch(prepared, raw).items()}


class CrashOnSingleBackend(OnnxRuntimeBackend):
    """Kills its worker (SIGKILL, as a segfault in native code would) on a batch in which every
    event has exactly one real particle: the "single" set, after "realistic" and "padded"."""

    name: ClassVar[str] = "crash_on_single"

    def run(self, prepared: Prepared) -> Any:
        import os
        import signal

        real = np.asarray(prepared["mask"]).sum(axis=-1)
        if real.size > 1 and bool((real == 1).all()):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().run(prepared)
