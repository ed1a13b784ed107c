"""Prepared inputs are independent, prepare runs no inference, run returns without copying.

Each CPU backend here prepares several input sets, runs them interleaved, and each run's
fetched outputs are checked against plain ONNX Runtime on that set's own inputs; a dropped
prepared set leaves the others intact. The harness prepares pools of events (event loop,
LoadGen) and times calls on them, so a backend that ran the last prepared set instead would
time the wrong event and keep shifted outputs.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import SHARED_MODELS, ort_outputs, zoo_artifact
from hepinfer.backends.base import Backend, BackendOptions
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeOptions
from hepinfer.zoo import build_inputs

# torch.export warns from copyreg (outside the torch.* filter of pyproject) when exporting;
# TensorFlow's own modules warn about numpy and protobuf internals on import.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tensorflow.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]

DEEPJET = SHARED_MODELS / "cms" / "DeepJet_Run3_122X.onnx"
# The order the prepared sets run in: every set after every other one, and itself.
ORDER = "ABCACBBA"


def _mlp(path: Path) -> Path:
    """x[batch, 8] -> y[batch, 3] (an MLP) and s = NonZero(y > 0), of data-dependent size."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(size=(8, 16)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(size=(16,)).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(16, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"]),
        helper.make_node("Add", ["h", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"]),
        helper.make_node("Greater", ["y", "zero"], ["pos"]),
        helper.make_node("NonZero", ["pos"], ["s"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("s", TensorProto.INT64, [2, "nnz"]),
        ],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def mlp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MLP as an ONNX file."""
    return _mlp(tmp_path_factory.mktemp("models") / "mlp.onnx")


def _backend(name: str) -> tuple[type[Backend], BackendOptions]:
    if name.startswith("onnxruntime"):
        return OnnxRuntimeBackend, OnnxRuntimeOptions(iobinding=name.endswith("iobinding"))
    if name.startswith("openvino"):
        pytest.importorskip("openvino")
        from hepinfer.backends.openvino import OpenVinoBackend, OpenVinoOptions

        variants = {
            "openvino": OpenVinoOptions(),
            "openvino-copying": OpenVinoOptions(zero_copy=False),
            "openvino-dynamic": OpenVinoOptions(static_shapes=False),
        }
        return OpenVinoBackend, variants[name]
    if name.startswith("pytorch"):
        pytest.importorskip("torch")
        from hepinfer.backends.pytorch import PyTorchBackend, PyTorchOptions

        return PyTorchBackend, PyTorchOptions(mode=name.split("-")[1])  # type: ignore[arg-type]
    pytest.importorskip("tensorflow")
    from hepinfer.backends.tensorflow import TensorFlowBackend, TensorFlowOptions

    # TensorFlow may already be started in this process: leave its pools alone.
    mode = name.split("-")[1]
    return TensorFlowBackend, TensorFlowOptions(mode=mode, threads=0, inter_op_threads=0)  # type: ignore[arg-type]


def _check_interleaved(
    backend: Backend,
    sets: Mapping[str, dict[str, np.ndarray]],
    want: Mapping[str, dict[str, np.ndarray]],
) -> None:
    """Prepare every set, run them interleaved, drop one: each run gives its own outputs."""

    def check(got: Mapping[str, np.ndarray], key: str, when: str) -> None:
        assert sorted(got) == sorted(want[key]), when
        for name, value in want[key].items():
            assert got[name].shape == value.shape, f"{when}: {name}"
            np.testing.assert_allclose(got[name], value, rtol=1e-4, atol=1e-5, err_msg=f"{when}: {name}")

    with backend.inference_scope():
        prepared = {k: backend.prepare(v) for k, v in sets.items()}
        for i, key in enumerate(ORDER):
            p = prepared[key]
            check(backend.fetch(p, backend.run(p)), key, f"call {i} (set {key})")
        # Every set run, then every one fetched: a run leaves the other sets' outputs alone.
        raws = {k: backend.run(p) for k, p in prepared.items()}
        for key, p in prepared.items():
            check(backend.fetch(p, raws[key]), key, f"fetched after all ran (set {key})")
        dropped = next(iter(prepared))
        del prepared[dropped], raws, p
        gc.collect()
        # A set prepared after the drop may reuse the dropped set's memory.
        prepared[dropped] = backend.prepare({k: v.copy() for k, v in sets[dropped].items()})
        for i, key in enumerate(reversed(ORDER)):
            p = prepared[key]
            check(backend.fetch(p, backend.run(p)), key, f"after dropping {dropped}: call {i} (set {key})")


ONNX_BACKENDS = [
    "onnxruntime",
    "onnxruntime-iobinding",
    "openvino",
    "openvino-copying",
    "openvino-dynamic",
]


@pytest.mark.parametrize("name", ONNX_BACKENDS)
def test_onnx_file_interleaved_sets_give_their_own_outputs(name: str, mlp_path: Path) -> None:
    cls, options = _backend(name)
    artifact = zoo_artifact(str(mlp_path))
    # Two sets of one shape, one of another (OpenVINO compiles each shape: C must not break A).
    sets = {
        "A": build_inputs(artifact.ref, artifact.spec, 4, {}, seed=1),
        "B": build_inputs(artifact.ref, artifact.spec, 4, {}, seed=2),
        "C": build_inputs(artifact.ref, artifact.spec, 6, {}, seed=3),
    }
    want = {k: ort_outputs(artifact, v) for k, v in sets.items()}
    # The sets differ, in values and in the data-dependent output's size.
    assert not np.allclose(want["A"]["y"], want["B"]["y"])
    assert len({w["s"].shape[1] for w in want.values()}) > 1
    backend = cls()
    backend.load(artifact, options)
    _check_interleaved(backend, sets, want)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["onnxruntime-iobinding", "openvino", "openvino-copying"])
def test_deepjet_interleaved_sets_give_their_own_outputs(name: str, shared_models: Path) -> None:
    if not DEEPJET.exists():
        pytest.skip(f"{DEEPJET} is absent")
    cls, options = _backend(name)
    artifact = zoo_artifact(str(DEEPJET))
    sets = {k: build_inputs(artifact.ref, artifact.spec, 8, {}, seed=4 + i) for i, k in enumerate("ABC")}
    want = {k: ort_outputs(artifact, v) for k, v in sets.items()}
    assert not np.allclose(want["A"]["ID_pred/Softmax:0"], want["B"]["ID_pred/Softmax:0"])
    backend = cls()
    backend.load(artifact, options)
    _check_interleaved(backend, sets, want)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["pytorch-eager", "pytorch-torchscript", "tensorflow-function", "tensorflow-call"]
)
def test_zoo_model_interleaved_sets_give_their_own_outputs(name: str) -> None:
    cls, options = _backend(name)
    artifact = zoo_artifact("higgs_model_dense")
    sets = {k: build_inputs(artifact.ref, artifact.spec, 4, {}, seed=7 + i) for i, k in enumerate("ABC")}
    want = {k: ort_outputs(artifact, v) for k, v in sets.items()}
    assert not np.allclose(want["A"]["output"], want["B"]["output"])
    backend = cls()
    backend.load(artifact, options)
    _check_interleaved(backend, sets, want)


# --- prepare runs no inference -------------------------------------------------------------------


class _ProfiledOrt(OnnxRuntimeBackend):
    """The real backend with ONNX Runtime's profiler on: every run is an event in its file."""

    prefix = ""

    def _session_options(self, options: OnnxRuntimeOptions) -> Any:
        so = super()._session_options(options)
        so.enable_profiling = True
        so.profile_file_prefix = self.prefix
        return so


def _model_runs(backend: OnnxRuntimeBackend) -> int:
    """How many inferences the session ran, from its profile (ends profiling)."""
    events = json.loads(Path(backend.session.end_profiling()).read_text())
    return sum(1 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")


@pytest.mark.parametrize("model", ["mlp", pytest.param("deepjet", marks=pytest.mark.shared)])
def test_onnxruntime_iobinding_prepare_runs_no_inference(model: str, mlp_path: Path, tmp_path: Path) -> None:
    if model == "deepjet" and not DEEPJET.exists():
        pytest.skip(f"{DEEPJET} is absent")
    artifact = zoo_artifact(str(mlp_path if model == "mlp" else DEEPJET))
    inputs = build_inputs(artifact.ref, artifact.spec, 3, {}, seed=0)

    def loaded(tag: str) -> _ProfiledOrt:
        backend = _ProfiledOrt()
        backend.prefix = str(tmp_path / tag)
        backend.load(artifact, OnnxRuntimeOptions(iobinding=True))
        return backend

    quiet = loaded("prepare")
    quiet.prepare(inputs)
    quiet.prepare(build_inputs(artifact.ref, artifact.spec, 5, {}, seed=1))
    assert _model_runs(quiet) == 0
    # The profiler sees runs: one prepare and two timed calls are two model runs.
    busy = loaded("run")
    p = busy.prepare(inputs)
    assert busy.run(p) is None  # outputs stay bound: fetch copies them
    busy.run(p)
    assert _model_runs(busy) == 2


def test_output_shapes_resolve_symbols_shared_with_inputs(mlp_path: Path) -> None:
    import onnxruntime as ort

    from hepinfer.backends.onnxruntime import output_shapes

    session = ort.InferenceSession(str(mlp_path), providers=["CPUExecutionProvider"])
    # y[batch, 3] follows from x[batch, 8]; s[2, nnz] depends on the data: left to ORT.
    assert output_shapes(session, {"x": (7, 8)}) == {"y": ((7, 3), np.float32)}


@pytest.mark.shared
def test_output_shapes_of_a_real_file_leave_foreign_symbols(shared_models: Path) -> None:
    import onnxruntime as ort

    from hepinfer.backends.onnxruntime import output_shapes

    if not DEEPJET.exists():
        pytest.skip(f"{DEEPJET} is absent")
    session = ort.InferenceSession(str(DEEPJET), providers=["CPUExecutionProvider"])
    shapes = {a.name: (5, *[d for d in a.shape[1:]]) for a in session.get_inputs()}
    # jet_pt's first axis is a symbol of its own (Identityjet_pt_dim_0): not resolved.
    assert output_shapes(session, shapes) == {"ID_pred/Softmax:0": ((5, 6), np.float32)}


def _openvino_profiled() -> Any:
    pytest.importorskip("openvino")
    from hepinfer.backends.openvino import OpenVinoBackend

    class Profiled(OpenVinoBackend):
        """The real backend with OpenVINO's per-node performance counters on."""

        def _config(self) -> dict[str, Any]:
            return {**super()._config(), "PERF_COUNT": True}

    return Profiled


def _statuses(backend: Any, prepared: Any) -> set[str]:
    """Each node's execution status, read through the request that runs ``prepared``.

    The CPU plugin keeps the counters per compiled graph, which all its requests share:
    NOT_RUN everywhere means nothing ran on that compiled model.
    """
    request = getattr(prepared, "request", None) or backend.request
    return {str(info.status) for info in request.get_profiling_info()}


@pytest.mark.parametrize("zero_copy", [True, False])
@pytest.mark.parametrize("model", ["mlp", "deepjet"])
def test_openvino_prepare_runs_no_inference(zero_copy: bool, model: str, mlp_path: Path) -> None:
    from hepinfer.backends.openvino import OpenVinoOptions

    if model == "deepjet" and not DEEPJET.exists():
        pytest.skip(f"{DEEPJET} is absent")
    artifact = zoo_artifact(str(mlp_path if model == "mlp" else DEEPJET))
    backend = _openvino_profiled()()
    backend.load(artifact, OpenVinoOptions(zero_copy=zero_copy))
    prepared = [backend.prepare(build_inputs(artifact.ref, artifact.spec, 3, {}, seed=s)) for s in (0, 1)]
    for p in prepared:
        # No node has executed: the first run() is the cold call.
        assert _statuses(backend, p) == {"Status.NOT_RUN"}
    # The counters do see a run.
    backend.run(prepared[0])
    assert "Status.EXECUTED" in _statuses(backend, prepared[0])


# --- run returns without copying; fetch copies ---------------------------------------------------


def test_openvino_run_leaves_outputs_in_the_bound_buffers(mlp_path: Path) -> None:
    pytest.importorskip("openvino")
    from hepinfer.backends.openvino import OpenVinoBackend, OpenVinoOptions

    artifact = zoo_artifact(str(mlp_path))
    inputs = build_inputs(artifact.ref, artifact.spec, 4, {}, seed=1)
    backend = OpenVinoBackend()
    backend.load(artifact, OpenVinoOptions())
    prepared = backend.prepare(inputs)
    raw = backend.run(prepared)
    # What run returns is a view of the bound output array, not a copy made in the timed call.
    y = raw["y"]
    assert np.shares_memory(y, prepared.outputs[0])
    got = backend.fetch(prepared, raw)
    # fetch copies: the outputs it gave stay as they are when the buffer is reused.
    assert not np.shares_memory(got["y"], prepared.outputs[0])
    np.testing.assert_allclose(got["y"], ort_outputs(artifact, inputs)["y"], rtol=1e-4, atol=1e-5)


# --- inference_scope -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eager", "torchscript"])
def test_pytorch_inference_mode_is_the_scope_not_each_call(mode: str) -> None:
    torch = pytest.importorskip("torch")
    from hepinfer.backends.pytorch import PyTorchBackend, PyTorchOptions

    artifact = zoo_artifact("higgs_model_dense")
    inputs = build_inputs(artifact.ref, artifact.spec, 5, {}, seed=3)
    backend = PyTorchBackend()
    backend.load(artifact, PyTorchOptions(mode=mode))  # type: ignore[arg-type]
    prepared = backend.prepare(inputs)
    outside = backend.run(prepared)
    if mode == "eager":
        # run() switched no mode itself: outside the scope autograd records the call.
        assert not torch.is_inference(outside) and outside.requires_grad
    with backend.inference_scope():
        assert torch.is_inference_mode_enabled()
        inside = backend.run(prepared)
        assert torch.is_inference(inside) and not inside.requires_grad
    assert not torch.is_inference_mode_enabled()
    # Either way the same numbers, and ONNX Runtime's.
    a, b = backend.fetch(prepared, outside)["output"], backend.fetch(prepared, inside)["output"]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(b, ort_outputs(artifact, inputs)["output"], rtol=1e-4, atol=1e-5)


def test_the_default_scope_enters_nothing() -> None:
    scope = OnnxRuntimeBackend().inference_scope()
    assert isinstance(scope, contextlib.nullcontext)
    with scope as entered:
        assert entered is None


# --- shareable -----------------------------------------------------------------------------------


def test_shareable_is_declared_honestly() -> None:
    from hepinfer.backends.openvino import OpenVinoBackend
    from hepinfer.backends.pytorch import PyTorchBackend
    from hepinfer.backends.sofie import SofieBackend

    # One InferRequest per prepared set, one reshaped ov.Model; SOFIE's generated session
    # holds its intermediate buffers: neither may be called from several threads at once.
    assert OpenVinoBackend.shareable is False
    assert SofieBackend.shareable is False
    # ORT's InferenceSession.run is thread-safe; an eval-mode module has no mutable state.
    assert OnnxRuntimeBackend.shareable is True
    assert PyTorchBackend.shareable is True


# --- end to end: the validation that crashed -----------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared
def test_deepjet_validation_through_openvino_workers(shared_models: Path) -> None:
    """The worker pushes each input set (the physics ones in chunks) through one loaded
    backend after its first call: OpenVINO zero-copy used to run the freed buffers of an
    earlier chunk there (the worker died with SIGABRT or SIGSEGV)."""
    pytest.importorskip("openvino")
    from hepinfer.runner import validate

    if not DEEPJET.exists():
        pytest.skip(f"{DEEPJET} is absent")
    request = validate.ValidateRequest(
        model=str(DEEPJET),
        backends=["onnxruntime", "openvino"],  # zero_copy is OpenVINO's default
        checks=["agreement", "physics"],
        physics_events=2000,
        physics_chunk=500,
        batch_sizes=(16, 64),
        alone=(0, 5),
        timeout_s=300,
    )
    report = validate.run_validation(request)
    by = {b["backend"]: b for b in report["backends"]}
    ov = by["openvino"]
    assert ov["verdict"] in ("identical", "within tolerance"), ov.get("error", ov["verdict"])
    # Every input set (batches of 64, 7 and 1, padded and single events) agrees with ORT.
    assert {"realistic", "padded", "single", "batch1", "batch7"} <= set(ov["sets"])
    for name, result in ov["sets"].items():
        assert result["verdict"] in ("identical", "within tolerance"), name
    # And the physics sets, pushed through in chunks of 500 events, all came back.
    assert ov["physics"]["events"] == 2000
    assert ov["physics"]["selection_flips"] == 0 and ov["physics"]["nonfinite_scores"] == 0
