"""Memory: the theoretical minimum by hand, RSS phases, load delta of a 100 MB model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hepinfer.measure.memory import MemoryProbe, fmt_bytes, library_of  # noqa: E402
from hepinfer.measure.min_memory import minimum_memory  # noqa: E402

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset: int = 17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _mlp():
    """x[N,4] -MatMul W[4,8]-> h[N,8] -Relu-> y[N,8]."""
    w = numpy_helper.from_array(np.ones((4, 8), np.float32), "w")
    return _model(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        [helper.make_tensor_value_info("x", F, ["N", 4])],
        [helper.make_tensor_value_info("y", F, ["N", 8])],
        [w],
    )


def test_minimum_of_a_two_node_mlp_by_hand():
    m = minimum_memory(_mlp(), {"x": (2, 4)})
    assert m.weight_bytes == 4 * 8 * 4
    # MatMul: x (2*4*4=32) + h (2*8*4=64) = 96; Relu: h (64) + y (64) = 128; x is dead there.
    assert m.peak_activation_bytes == 128
    assert m.peak_op == "Relu"
    assert m.total_bytes == 128 + 128
    assert (m.input_bytes, m.output_bytes, m.nodes, m.unknown) == (32, 64, 2, ())


def test_minimum_scales_with_the_batch():
    m = minimum_memory(_mlp(), {"x": (1000, 4)})
    assert m.peak_activation_bytes == 1000 * 16 * 4
    assert m.weight_bytes == 128


def test_minimum_of_branches_keeps_both_alive():
    """x -> a=Relu(x), b=Sigmoid(x), y=Add(a,b), with x[1,10]: 40 bytes a tensor."""
    model = _model(
        [
            helper.make_node("Relu", ["x"], ["a"]),
            helper.make_node("Sigmoid", ["x"], ["b"]),
            helper.make_node("Add", ["a", "b"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", F, ["N", 10])],
        [helper.make_tensor_value_info("y", F, ["N", 10])],
    )
    m = minimum_memory(model, {"x": (1, 10)})
    # Relu: x,a = 80; Sigmoid: x,a,b = 120; Add: a,b,y = 120.
    assert m.peak_activation_bytes == 120
    assert m.peak_op == "Sigmoid"
    assert m.weight_bytes == 0


def test_views_share_their_input_buffer_and_dims_are_substituted():
    """x[N,n_pf] -Reshape-> r[N*n_pf] -Neg-> y, shape from a Constant (a weight)."""
    shape = helper.make_node(
        "Constant", [], ["s"], value=numpy_helper.from_array(np.array([-1], np.int64), "s")
    )
    model = _model(
        [shape, helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Neg", ["r"], ["y"])],
        [helper.make_tensor_value_info("x", F, ["N", "n_pf"])],
        [helper.make_tensor_value_info("y", F, ["M"])],
    )
    m = minimum_memory(model, {"x": (3, 5)})
    assert m.weight_bytes == 8  # the int64 shape constant
    # x and r are one buffer of 60 bytes; Neg adds y (60).
    assert m.peak_activation_bytes == 120
    assert m.output_bytes == 60


def test_unknown_shapes_are_listed_not_guessed():
    """NonZero's output size depends on the data: the minimum is a lower bound."""
    model = _model(
        [helper.make_node("NonZero", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", F, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [2, "K"])],
    )
    m = minimum_memory(model, {"x": (2, 3)})
    assert m.unknown == ("y",)
    assert m.peak_activation_bytes == 24


def test_memory_probe_phases_are_ordered_and_deltas_non_negative():
    probe = MemoryProbe()
    probe.mark("import")
    probe.mark("convert")
    held = np.ones(20 * 2**20 // 8)  # 20 MiB, kept: the "model"
    probe.mark("load")
    probe.mark("prepare")
    scratch = np.ones(40 * 2**20 // 8)  # 40 MiB, freed before the mark: a peak only
    del scratch
    probe.mark("inference")
    probe.close()
    s = probe.summary()
    assert list(s["rss"]) == ["start", "import", "convert", "load", "prepare", "inference"]
    assert s["deltas"]["model"] >= 19 * 2**20
    assert s["deltas"]["inference"] >= 39 * 2**20
    assert s["measured_bytes"] >= s["deltas"]["inference"] >= 0
    for phase, peak in s["peak"].items():
        assert peak >= s["rss"][phase]
    assert s["peak_rss"] == max(s["peak"].values())
    assert held.sum() > 0


def test_library_attribution_of_stacks():
    torch_stack = [("operator new(unsigned long)", "<unknown>", 0), ("at::empty_cpu", "<unknown>", 0)]
    assert library_of(torch_stack, []) == "torch"
    stripped = [("malloc", "<unknown>", 0), ("<unknown>", "<unknown>", 0)]
    py = [("run", "/v/lib/python3.11/site-packages/onnxruntime/capi/session.py", 200)]
    assert library_of(stripped, py) == "onnxruntime (via Python)"
    assert library_of([], []) == "unattributed"


def test_fmt_bytes():
    assert fmt_bytes(None) == "-"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(3 * 2**20) == "3 MiB"
    assert fmt_bytes(-(2**30)) == "-1 GiB"
