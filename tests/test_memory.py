"""Memory: the theoretical minimum by hand, RSS phases, load delta of a 100 MB model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hepinfer.convert.graph_minimum import minimum_memory  # noqa: E402
from hepinfer.measure.memory import MemoryProbe, fmt_bytes, library_of  # noqa: E402

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
        [
            shape,
            helper.make_node("Reshape", ["x", "s"], ["r"]),
            helper.make_node("Neg", ["r"], ["y"]),
        ],
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
    torch_stack = [
        ("operator new(unsigned long)", "<unknown>", 0),
        ("at::empty_cpu", "<unknown>", 0),
    ]
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


def _save(model, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def big_model(tmp_path_factory) -> Path:
    """x[N,5000] @ W[5000,5000]: 25M float32 weights, 100 MB."""
    w = numpy_helper.from_array(np.full((5000, 5000), 0.5, np.float32), "w")
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", F, ["N", 5000])],
        [helper.make_tensor_value_info("y", F, ["N", 5000])],
        [w],
    )
    return _save(model, tmp_path_factory.mktemp("big") / "big.onnx")


@pytest.mark.slow
def test_100_mb_of_weights_show_in_the_load_delta(big_model):
    pytest.importorskip("onnxruntime")
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    policy = TimingPolicy(max_time_s=0.2, min_calls=3, warmup_calls=1, warmup_s=0.0)
    (record,) = run_bench(
        BenchRequest(model=str(big_model), backends=["onnxruntime"], batches=[2], policy=policy)
    )
    assert record["status"] == "ok", record["error"]
    mem = record["memory"]
    rss = mem["rss"]
    assert list(rss) == ["start", "import", "convert", "load", "prepare", "inference", "timing"]
    assert mem["deltas"]["model"] >= 100_000_000
    assert mem["deltas"]["inference"] >= 0
    assert mem["measured_bytes"] >= mem["deltas"]["model"]
    for phase, peak in mem["peak"].items():
        assert peak >= rss[phase]
    minimum = mem["minimum"]
    assert minimum["weight_bytes"] == 100_000_000
    # x[2,5000] and y[2,5000] float32 are alive together at the MatMul.
    assert minimum["peak_activation_bytes"] == 2 * 2 * 5000 * 4
    assert minimum["ratio"] == pytest.approx(mem["measured_bytes"] / minimum["total_bytes"])
    assert minimum["ratio"] >= 1.0
    one_off = record["one_off"]
    assert one_off["load_s"] > 0 and one_off["first_call_ns"] > 0
    assert one_off["cold_over_warm"] == pytest.approx(one_off["first_call_ns"] / one_off["warm_median_ns"])


@pytest.mark.slow
def test_memory_command_batches_and_sessions(tmp_path):
    pytest.importorskip("onnxruntime")
    from hepinfer.runner.memory import MemoryRequest, run_memory

    path = _save(_mlp(), tmp_path / "mlp.onnx")
    out = tmp_path / "memory.jsonl"
    records = run_memory(MemoryRequest(model=str(path), batches=[1, 100], threads=2, calls=2), out=out)
    assert [r["status"] for r in records] == ["ok", "ok"], [r["error"] for r in records]
    assert [r["key"]["batch"] for r in records] == [1, 100]
    # By hand: weights 128 B; peak at Relu = h + y = 2 * batch * 8 * 4 bytes.
    assert [r["memory"]["minimum"]["total_bytes"] for r in records] == [128 + 64, 128 + 6400]
    for r in records:
        assert r["kind"] == "memory"
        s = r["sessions"]
        assert s["threads"] == 2
        assert s["peak_shared"] >= s["peak_one_thread"] > 0
        assert s["peak_separate"] >= s["peak_one_thread"]
        assert list(r["memory"]["rss"]) == [
            "start",
            "import",
            "convert",
            "load",
            "prepare",
            "inference",
            "shared",
            "load_sessions",
            "separate",
        ]
    from hepinfer.results import jsonl

    assert len(list(jsonl.read(out))) == 2


def test_memory_command_refuses_bad_input():
    from hepinfer.errors import ConfigurationError
    from hepinfer.runner.memory import MemoryRequest, plan

    with pytest.raises(ConfigurationError, match="--threads 0"):
        plan(MemoryRequest(model="linear_event", threads=0))
    keys = plan(
        MemoryRequest(model="linear_event", backends=["onnxruntime", "pytorch"], batches=[1, 8], threads=3)
    )
    assert [(k.backend, k.batch, k.threads) for k in keys] == [
        ("onnxruntime", 1, 3),
        ("onnxruntime", 8, 3),
        ("pytorch", 1, 3),
        ("pytorch", 8, 3),
    ]


@pytest.mark.slow
def test_memray_profile_writes_a_flame_graph(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("memray")
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    path = _save(_mlp(), tmp_path / "mlp.onnx")
    policy = TimingPolicy(max_time_s=0.1, min_calls=3, warmup_calls=1, warmup_s=0.0)
    request = BenchRequest(
        model=str(path),
        backends=["onnxruntime"],
        batches=[4096],
        policy=policy,
        memray_dir=str(tmp_path / "memray"),
    )
    (record,) = run_bench(request)
    assert record["status"] == "ok", record["error"]
    profiles = record["memory"]["memray"]
    inference, load = profiles["inference"], profiles["load"]
    assert inference["calls"] == 3
    # Each call returns a new y[4096, 8] float32 (128 KiB); the cold call also grows the arena.
    assert inference["peak_heap_bytes"] >= 4096 * 8 * 4
    assert load["peak_heap_bytes"] > 0 and load["total_allocations"] > 0
    for profile in (inference, load):
        assert Path(profile["flamegraph"]).read_text().lstrip().lower().startswith("<!doctype html")
        assert sum(v["bytes"] for v in profile["by_library"].values()) <= profile["peak_heap_bytes"]


def test_sampled_peak_sees_a_held_allocation():
    import time

    probe = MemoryProbe(force_sampling=True)
    assert probe.method == "sampled"
    probe.mark("load")
    block = np.ones(40 * 2**20 // 8)
    sampler = probe._sampler
    assert sampler is not None
    deadline = time.monotonic() + 30  # only a bound on a hung sampler, not a speed check
    while sampler.peak < probe.rss["load"] + 39 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.005)
    del block
    probe.mark("inference")
    probe.close()
    assert probe.peak["inference"] - probe.rss["load"] >= 39 * 2**20
    assert probe.summary()["peak_method"] == "sampled"


def test_memory_cli_refuses_bad_input_in_one_line(capsys):
    from hepinfer.cli.main import main

    assert main(["memory", "linear_event", "--threads", "0"]) == 1
    assert main(["memory", "linear_event", "--option", "onnxruntime.optimization=basic,all"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("hepinfer: error: --threads 0")
    assert "give one value" in err[1]


def test_minimum_of_an_unsorted_graph_is_that_of_the_sorted_one():
    """Some real exports list nodes out of order; the liveness pass sorts them first."""
    sorted_model = _mlp()
    unsorted = onnx.ModelProto()
    unsorted.CopyFrom(sorted_model)
    nodes = list(unsorted.graph.node)
    del unsorted.graph.node[:]
    unsorted.graph.node.extend(reversed(nodes))
    assert [n.op_type for n in unsorted.graph.node] == ["Relu", "MatMul"]
    assert minimum_memory(unsorted, {"x": (2, 4)}) == minimum_memory(sorted_model, {"x": (2, 4)})


SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/models is absent")
@pytest.mark.parametrize(
    "name",
    ["cms/ParticleNetAK4_CHS_V01.onnx", "cms/DeepJet_Run3_122X.onnx", "rootbench/DDB_B1.onnx"],
)
def test_minimum_of_real_models_knows_every_shape(name):
    """ParticleNet needs ORT's symbolic shape inference; DDB_B1 is not topologically sorted."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{name} is absent from ../shared/models")
    model = onnx.load(str(path))
    weights = {i.name for i in model.graph.initializer}
    shapes = {
        vi.name: [d.dim_value or 7 for d in vi.type.tensor_type.shape.dim]
        for vi in model.graph.input
        if vi.name not in weights
    }
    m = minimum_memory(model, shapes)
    assert m.unknown == ()
    assert m.weight_bytes >= sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer)
    assert m.peak_activation_bytes >= m.input_bytes > 0


def test_minimum_ratios(tmp_path):
    from hepinfer.convert.analysis import minimum_for_onnx
    from hepinfer.measure.min_memory import with_ratios
    from hepinfer.zoo import model_ref, spec_of

    path = _save(_mlp(), tmp_path / "mlp.onnx")
    spec = spec_of(model_ref(str(path)))
    memory = {"measured_bytes": 512, "deltas": {"model": 256, "inputs": 32, "inference": 96}}
    m = with_ratios(minimum_for_onnx(path, spec.shapes(2, {})), memory)
    assert (m["weight_bytes"], m["peak_activation_bytes"], m["total_bytes"]) == (128, 128, 256)
    assert (m["ratio"], m["weights_ratio"], m["activations_ratio"]) == (2.0, 2.0, 1.0)
    path.unlink()  # an annotation that cannot be computed is an error entry, no raise
    broken = with_ratios(minimum_for_onnx(path, spec.shapes(2, {})), memory)
    assert "mlp.onnx" in broken["error"]
