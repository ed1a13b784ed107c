"""Cost of a model from its ONNX graph: MACs counted by hand on small graphs and real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hepinfer.convert.cost import model_cost  # noqa: E402

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def _save(tmp_path: Path, nodes: list, inputs: list, outputs: list, inits: dict) -> Path:
    """A checked ONNX file; initializers are float32 ones of the given shapes, or arrays."""
    tensors = [
        numpy_helper.from_array(v if isinstance(v, np.ndarray) else np.ones(v, np.float32), k)
        for k, v in inits.items()
    ]
    graph = helper.make_graph(nodes, "g", inputs, outputs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path


def _in(name: str, shape: list) -> object:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def test_gemm_and_matmul(tmp_path: Path) -> None:
    # x[N,n,6] @ W[6,3] -> h[N,n,3]; h @ h^T (attention-like, both activations) -> [N,n,n];
    # then a Gemm on the mean row: [N,3] x [5,3]^T (transB).
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Transpose", ["h"], ["ht"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["h", "ht"], ["a"]),
        helper.make_node("ReduceMean", ["h", "axes"], ["p"], keepdims=0),
        helper.make_node("Gemm", ["p", "g"], ["y"], transB=1),
    ]
    path = _save(
        tmp_path,
        nodes,
        [_in("x", ["N", "n", 6])],
        [_in("y", ["N", 5]), _in("a", ["N", "n", "n"])],
        {"w": (6, 3), "g": (5, 3), "axes": np.array([1], dtype=np.int64)},
    )
    cost = model_cost(path, batch=4, dims={"n": 10})
    per_event = 10 * 6 * 3 + 10 * 10 * 3 + 3 * 5
    assert cost["macs"] == 4 * per_event
    assert cost["macs_per_event"] == per_event
    assert cost["macs_by_op"] == {"MatMul": 4 * (180 + 300), "Gemm": 4 * 15}
    assert cost["params"] == 18 + 15 + 1
    assert cost["weight_bytes"] == 4 * 33 + 8
    assert cost["uncounted"] == []


def test_conv_and_conv_transpose(tmp_path: Path) -> None:
    nodes = [
        # [N,2,10,10] -> 3 filters 3x3 pad 1 -> [N,3,10,10]
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        # [N,3,10,10] -> 2 filters 2x2 stride 2 -> [N,2,20,20]
        helper.make_node("ConvTranspose", ["c", "wt"], ["y"], strides=[2, 2]),
        # grouped conv: 2 groups of 1 channel, 3x3 valid -> [N,4,18,18]
        helper.make_node("Conv", ["y", "wg"], ["z"], group=2),
    ]
    path = _save(
        tmp_path,
        nodes,
        [_in("x", ["N", 2, 10, 10])],
        [_in("z", ["N", 4, 18, 18])],
        {"w": (3, 2, 3, 3), "b": (3,), "wt": (3, 2, 2, 2), "wg": (4, 1, 3, 3)},
    )
    cost = model_cost(path, batch=2)
    conv = 3 * 100 * 2 * 9 + 4 * 18 * 18 * 1 * 9
    convt = 3 * 100 * 2 * 4  # every input pixel meets every kernel weight once
    assert cost["macs_by_op"] == {"Conv": 2 * conv, "ConvTranspose": 2 * convt}
    assert cost["macs_per_event"] == conv + convt


@pytest.mark.parametrize(("op", "gates"), [("RNN", 1), ("GRU", 3), ("LSTM", 4)])
def test_recurrent_cells(tmp_path: Path, op: str, gates: int) -> None:
    hidden, features, steps = 8, 10, 20
    node = helper.make_node(op, ["x", "W", "R", "B"], ["", "h"], hidden_size=hidden, layout=1)
    path = _save(
        tmp_path,
        [node],
        [_in("x", ["N", steps, features])],
        [_in("h", ["N", 1, hidden])],
        {
            "W": (1, gates * hidden, features),
            "R": (1, gates * hidden, hidden),
            "B": (1, 2 * gates * hidden),
        },
    )
    cost = model_cost(path, batch=3)
    assert cost["macs_per_event"] == steps * gates * hidden * (features + hidden)
    assert cost["params"] == gates * hidden * (features + hidden + 2)


@pytest.mark.shared
@pytest.mark.parametrize(
    ("real", "dims", "per_event", "params"),
    [
        # 100*50 + 8*50*50 + 50*10
        ("rootbench/Linear_event.onnx", {}, 25_500, 25_960),
        # Linear_16 runs at its fixed batch 16; per event it is Linear_event
        ("rootbench/Linear_16.onnx", {}, 25_500, 25_960),
        # 2 filters x 25 taps x 100x100 pixels
        ("rootbench/Conv_d100_L1_B1.onnx", {}, 500_000, 52),
        # 20 steps x 8 x (10 + 8), + 8x2 dense
        ("rootbench/RNN_d10_L20_h8_B1.onnx", {}, 2_896, 186),
        # ParticleNet AK8 at 100 PF + 10 SV, k=16 (hand count in the zoo notes): EdgeConv and
        # feature convs 477,902,400; Gram matrices of the kNN 2,347,400; dense 103,424
        ("cms/ParticleNetAK8_General_V01.onnx", {"n_pf": 100, "n_sv": 10}, 480_353_224, 587_065),
    ],
)
def test_real_files(real: str, dims: dict[str, int], per_event: int, params: int) -> None:
    path = SHARED_MODELS / real
    if not path.exists():
        pytest.skip(f"the real model is not here ({path} is absent)")
    batch = 16 if "_16" in real else 1
    cost = model_cost(path, batch=batch, dims=dims)
    assert cost["macs_per_event"] == per_event
    assert cost["params"] == params
    assert cost["uncounted"] == []


@pytest.mark.slow
def test_gnn_tau_flat_cost_follows_the_nodes_its_builder_makes() -> None:
    """The flat form's builder stacks the nodes of B events (195 at batch 8, seed 0), not the
    spec's default n_nodes_total=20: the parent's cost is taken at the inputs the worker runs."""
    from hepinfer.backends.registry import backend_class
    from hepinfer.results.schema import Key
    from hepinfer.runner.stage import stager_for
    from hepinfer.zoo import build_inputs, model_ref, spec_of

    ref = model_ref("gnn_tau", {"form": "flat"})
    spec = spec_of(ref)
    built = build_inputs(ref, spec, 8, {}, 0)
    nodes, edges = built["nodes"].shape[0], built["edges"].shape[1]
    assert (nodes, edges) != (20, 60)  # the builder's sizes are not the spec's defaults
    key = Key(model=ref.label, backend="onnxruntime", batch=8, threads=1, model_params={"form": "flat"})
    cost = stager_for(ref, spec).stage(key, backend_class("onnxruntime")).cost
    assert cost["dims"] == {"n_nodes_total": nodes, "n_edges_total": edges}
    # The same graph analysed at the builder's shapes by hand: the counts must be the ones used.
    at_default = model_cost(stager_for(ref, spec).onnx("dynamo")[0], 8, {}, spec=spec)
    assert at_default["dims"] == {"n_nodes_total": 20, "n_edges_total": 60}
    at_built = model_cost(
        stager_for(ref, spec).onnx("dynamo")[0],
        8,
        {"n_nodes_total": nodes, "n_edges_total": edges},
        spec=spec,
    )
    assert cost["macs_per_event"] == at_built["macs_per_event"] > 5 * at_default["macs_per_event"]


def test_shapes_computed_from_input_shapes_are_folded(tmp_path: Path) -> None:
    # torch.arange(batch) as exported: Range over a Shape value. ONNX's shape inference sizes
    # neither the Range nor the Gather after it, so the MatMul was "not counted".
    batch = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 6])
    consts = {
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "first": np.array([0], np.int64),
        "w": np.ones((6, 4), np.float32),
    }
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "first"], ["b1"]),
        helper.make_node("Squeeze", ["b1"], ["b"]),
        helper.make_node("Range", ["zero", "b", "one"], ["rows"]),
        helper.make_node("Gather", ["x", "rows"], ["picked"], axis=0),
        helper.make_node("MatMul", ["picked", "w"], ["y"]),
        # gnn_tau's readout: a ReduceMax with its axes as an input, then a Concat, where ONNX
        # Runtime's symbolic inference gives up on the whole graph
        helper.make_node("ReduceMax", ["picked", "axis"], ["top"], keepdims=1),
        helper.make_node("Concat", ["y", "top"], ["out"], axis=1),
    ]
    consts["axis"] = np.array([1], np.int64)
    path = _save(tmp_path, nodes, [batch], [_in("out", ["B", 5])], consts)
    cost = model_cost(path, batch=5)
    assert cost["uncounted"] == []
    assert cost["macs_by_op"] == {"MatMul": 5 * 6 * 4}


def _gnn_tau_hand_macs(params: dict[str, object], graphs: int, slots: int) -> int:
    """MACs of gnn_tau from its definition (the torch module), not from any ONNX graph: each
    message-passing Linear maps every node slot of the batch (``slots``: B x n_nodes padded,
    n_nodes_total flat), the head maps each graph, and the knn form adds each graph's
    pairwise-distance product of the coordinates, [N,2] x [2,N]."""
    from torch import nn

    from hepinfer.zoo import entry

    module = entry("gnn_tau").build(entry("gnn_tau").params(params))
    macs = 0
    for name, layer in module.named_modules():
        if isinstance(layer, nn.Linear):
            rows = graphs if name == "head" else slots
            macs += rows * layer.in_features * layer.out_features
    if params["form"] == "knn":
        n = slots // graphs
        macs += graphs * n * 2 * n
    return macs


@pytest.mark.slow
@pytest.mark.parametrize(
    ("form", "exporter"),
    [("knn", "dynamo"), ("indices", "dynamo"), ("knn", "legacy"), ("indices", "legacy"), ("flat", "dynamo")],
)
def test_gnn_tau_every_form_counts_every_matmul(form: str, exporter: str) -> None:
    """Before, the knn and indices forms left their three lin_l MatMuls (on the neighbour
    mean, after a Range over the batch) "not counted": half the network's MACs."""
    from hepinfer.backends.registry import backend_class
    from hepinfer.results.schema import Key
    from hepinfer.runner.stage import stager_for
    from hepinfer.zoo import model_ref, spec_of

    params = {"form": form}
    ref = model_ref("gnn_tau", params)
    spec = spec_of(ref)
    path = stager_for(ref, spec).onnx(exporter)[0]
    axis = "n_nodes_total" if form == "flat" else "n_nodes"
    for batch, nodes in ((1, 64), (3, 40)):
        dims = {axis: nodes} if form != "flat" else {axis: nodes, "n_edges_total": 3 * nodes}
        cost = model_cost(path, batch, dims, spec=spec)
        assert cost["uncounted"] == []
        # the flat form stacks the nodes of all graphs: n_nodes_total rows for the whole batch
        slots = nodes if form == "flat" else batch * nodes
        assert cost["macs"] == _gnn_tau_hand_macs(params, batch, slots)
    # the parent's analysis at the worker's shapes (runner/stage.py) counts them too
    key = Key(
        model=ref.label, backend="onnxruntime", batch=2, threads=1, model_params=params, exporter=exporter
    )
    staged = stager_for(ref, spec).stage(key, backend_class("onnxruntime")).cost
    assert staged["uncounted"] == []
    if form != "flat":
        assert staged["macs"] == _gnn_tau_hand_macs(params, 2, 2 * staged["dims"]["n_nodes"])
