"""SOFIE backend: generated C++ compiled per batch, cached, agreement with ORT, clear refusals;
built in the parent and only opened by the worker; the C++ timing loop."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS, ort_outputs, run_once, zoo_artifact
from hepinfer.backends.sofie import SofieBackend, SofieOptions
from hepinfer.convert import sofie as convert
from hepinfer.errors import BackendUnavailable, ConfigurationError, ConversionError
from hepinfer.zoo import build_inputs

pytest.importorskip("sofie")
pytest.importorskip("scipy_openblas32")

# torch.export warns from copyreg (outside the torch.* filter of pyproject) when exporting.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`:FutureWarning"),
    # TensorFlow and Keras (the keras parser) warn about numpy and protobuf internals.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tensorflow.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]


def _shared(path: str) -> Path:
    full = SHARED_MODELS / path
    if not full.exists():
        pytest.skip(f"real models not found at {SHARED_MODELS}")
    return full


@pytest.mark.shared
def test_real_file_agrees_with_onnxruntime_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path))
    artifact = zoo_artifact(str(_shared("rootbench/Linear_event.onnx")))
    inputs = build_inputs(artifact.ref, artifact.spec, 1, {}, seed=5)
    backend = SofieBackend()
    got = run_once(backend, artifact, SofieOptions(), inputs)
    want = ort_outputs(artifact, inputs)
    assert list(got) == ["39"]  # 'input.1' / '39' mapped back from SOFIE's C++ names
    np.testing.assert_allclose(got["39"], want["39"], rtol=1e-4, atol=1e-5)
    s = backend.settings()
    assert s["cached"] is False and s["compile_s"] > 0 and s["generate_s"] > 0
    assert "-O3" in s["flags"] and "-march=native" in s["flags"]
    assert "-Dsgemm_=scipy_sgemm_" in s["flags"]
    assert s["blas_threads"] == 1
    assert artifact.conversions["onnx_to_sofie"]["compile_s"] == s["compile_s"]
    # The same file, shapes, compiler and flags: the library comes from the cache.
    again = convert.build_library(artifact.onnx_path(), {"input.1": [1, 100]})
    assert again.cached and again.library == backend.build.library
    assert len(list((tmp_path / "sofie").iterdir())) == 1


@pytest.mark.slow
def test_zoo_model_one_library_per_batch_portable_isa(tmp_path, monkeypatch):
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path))
    artifact = zoo_artifact("higgs_model_dense")
    backend = SofieBackend()
    backend.load(artifact, SofieOptions(isa="portable"))
    libraries = set()
    for batch in (1, 3):
        inputs = build_inputs(artifact.ref, artifact.spec, batch, {}, seed=batch)
        prepared = backend.prepare(inputs)
        got = backend.fetch(prepared, backend.run(prepared))
        want = ort_outputs(artifact, inputs)
        assert got["output"].shape == (batch, 2)
        np.testing.assert_allclose(got["output"], want["output"], rtol=1e-4, atol=1e-5)
        libraries.add(backend.build.library)
        assert "-march=x86-64-v2" in backend.settings()["flags"]
    assert len(libraries) == 2


def _unsupported_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    nodes = [
        helper.make_node("Hardmax", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Hardmax", ["b"], ["c"]),
        helper.make_node("Dropout", ["c"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_unsupported_operators_one_line(tmp_path):
    path = _unsupported_model(tmp_path / "unsupported.onnx")
    with pytest.raises(ConversionError) as err:
        SofieBackend().load(zoo_artifact(str(path)), SofieOptions())
    assert str(err.value) == "SOFIE cannot run this model: unsupported operators Dropout (1), Hardmax (2)"


@pytest.mark.shared
def test_unsupported_operator_in_a_real_file():
    path = _shared("cms/DeepAK8_V02_full.onnx")
    assert convert.unsupported_operators(path) == {"Dropout": 1}


@pytest.mark.slow  # an export (or XLA compilation) first
def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "sofie" else real(n, *a))
    assert SofieBackend.unavailable_reason() == (
        "sofie, which is not installed; install it with: pip install 'hepinfer[sofie]'"
    )
    monkeypatch.setitem(sys.modules, "sofie", None)
    with pytest.raises(BackendUnavailable, match=r"hepinfer\[sofie\]"):
        SofieBackend().load(zoo_artifact("linear_event"), SofieOptions())


@pytest.mark.slow
@pytest.mark.parametrize("parser", ["pytorch", pytest.param("keras", marks=pytest.mark.slow)])
def test_framework_parsers_agree_with_the_onnx_path(parser, tmp_path, monkeypatch):
    if parser == "keras":
        pytest.importorskip("tensorflow")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path))
    artifact = zoo_artifact("higgs_model_dense")
    inputs = build_inputs(artifact.ref, artifact.spec, 2, {}, seed=7)
    backend = SofieBackend()
    got = run_once(backend, artifact, SofieOptions(parser=parser), inputs)
    want = ort_outputs(artifact, inputs)
    assert list(got) == ["output"]
    np.testing.assert_allclose(got["output"], want["output"], rtol=1e-4, atol=1e-5)
    assert backend.settings()["parser"] == parser
    assert f"-{parser}-" in Path(backend.build.library).parent.name


def test_framework_parser_needs_a_zoo_model():
    with pytest.raises(BackendUnavailable, match="has none"):
        SofieBackend().load(zoo_artifact("linear_event"), SofieOptions(parser="keras"))


def test_build_library_raises_the_one_line_error_in_the_parent(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    slope = helper.make_tensor("slope", TensorProto.FLOAT, [4], [0.25] * 4)
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], [slope])
    path = tmp_path / "prelu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(ConversionError) as err:
        convert.build_library(path, {"x": (1, 4)}, SofieOptions())
    assert str(err.value) == "SOFIE cannot run this model: unsupported operators PRelu (1)"
    assert "\n" not in str(err.value)
    cache = Path(os.environ["HEPINFER_CACHE"]) / "sofie"
    assert not list(cache.glob("prelu-*"))  # refused before any code was generated


def test_declared_capabilities():
    assert SofieBackend.shareable is False  # one Session's intermediate buffers per call
    assert SofieBackend.has_native_timing is True
    assert set(SofieBackend.runtime_packages) <= set(SofieBackend.packages)
    assert "sofie" not in SofieBackend.runtime_packages


LINEAR = "rootbench/Linear_event.onnx"


@pytest.fixture(scope="module")
def linear_build():
    """Linear_event at batch 1, built the parent's way: the artifact carries the build."""
    artifact = zoo_artifact(str(_shared(LINEAR)))
    build = SofieBackend.prebuild(artifact, SofieOptions(), artifact.spec.shapes(1, {}))
    return artifact, build


def _worker_artifact(build_dict):
    """A fresh artifact as a worker would make it, carrying the parent's build."""
    artifact = zoo_artifact(str(_shared(LINEAR)))
    artifact.conversions["onnx_to_sofie"] = build_dict
    return artifact


@pytest.mark.shared
def test_build_library_records_its_costs_and_is_cached(linear_build):
    artifact, build = linear_build
    assert Path(build.library).is_file() and Path(build.header).is_file() and Path(build.source).is_file()
    assert "hepinfer_time_loop" in Path(build.source).read_text()
    assert build.session == "SOFIE_model::Session"
    assert [(a.name, a.shape) for a in build.inputs] == [("input.1", (1, 100))]
    assert [(a.name, a.shape) for a in build.outputs] == [("39", (1, 10))]
    assert build.to_dict() == artifact.conversions["onnx_to_sofie"]
    again = convert.build_library(artifact.onnx_path(), {"input.1": (1, 100)})
    assert again.cached and again.library == build.library and again.key == build.key
    assert again.compile_s == build.compile_s  # the cached build keeps the cost of the original
    assert convert.SofieBuild.from_dict(json.loads(json.dumps(build.to_dict()))) == build
    o2 = convert.BuildOptions(opt="-O2")
    other = convert.build_library(artifact.onnx_path(), {"input.1": (1, 100)}, o2)
    assert other.library != build.library and "-O2" in other.flags


_WORKER = """
import json, sys
import numpy as np
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.backends.sofie import SofieBackend, SofieOptions
from hepinfer.zoo import model_ref, spec_of

job = json.loads(open(sys.argv[1]).read())
ref = model_ref(job["model"])
artifact = ModelArtifact(ref=ref, spec=spec_of(ref), conversions=job["conversions"])
backend = SofieBackend()
backend.load(artifact, SofieOptions())
prepared = backend.prepare(dict(np.load(job["inputs"])))
outputs = backend.fetch(prepared, backend.run(prepared))
native = backend.native_timing(prepared, 50, 5)
np.savez(job["outputs"], **outputs)
print(json.dumps({
    "generator_modules": sorted(m for m in sys.modules if m == "sofie" or m.startswith("sofie.")),
    "library": backend.build.library,
    "built_in": backend.settings()["built_in"],
    "native": len(native),
}))
"""


@pytest.mark.shared
def test_a_worker_handed_the_build_only_opens_it(linear_build, tmp_path):
    artifact, build = linear_build
    inputs = build_inputs(artifact.ref, artifact.spec, 1, {}, seed=3)
    np.savez(tmp_path / "in.npz", **inputs)
    job = {
        "model": str(_shared(LINEAR)),
        "conversions": json.loads(json.dumps(artifact.conversions)),  # as it travels in a job file
        "inputs": str(tmp_path / "in.npz"),
        "outputs": str(tmp_path / "out.npz"),
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    src = str(Path(convert.__file__).parents[3])  # src/hepinfer/convert/sofie/__init__.py
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    env["HEPINFER_CACHE"] = str(tmp_path / "empty-cache")  # nothing to find there: it must not look
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, str(tmp_path / "job.json")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"generator_modules": [], "library": build.library, "built_in": "parent", "native": 50}
    assert not (tmp_path / "empty-cache" / "sofie").exists()
    got = dict(np.load(tmp_path / "out.npz"))
    here = run_once(SofieBackend(), _worker_artifact(build.to_dict()), SofieOptions(), inputs)
    np.testing.assert_array_equal(got["39"], here["39"])  # the same library, the same inputs
    np.testing.assert_allclose(got["39"], ort_outputs(artifact, inputs)["39"], rtol=1e-4, atol=1e-5)


@pytest.mark.shared
def test_native_loop_runs_the_same_inference_and_costs_no_more(linear_build):
    _, build = linear_build
    artifact = _worker_artifact(build.to_dict())
    backend = SofieBackend()
    backend.load(artifact, SofieOptions())
    prepared = backend.prepare(build_inputs(artifact.ref, artifact.spec, 1, {}, seed=11))
    via_ctypes = backend.fetch(prepared, backend.run(prepared))
    for buf in prepared.outputs:
        buf.fill(np.nan)
    native = backend.native_timing(prepared, 3000, warmup=100)
    assert len(native) == 3000 and all(x >= 0 for x in native)
    np.testing.assert_array_equal(backend.fetch(prepared, None)["39"], via_ctypes["39"])
    assert not np.isnan(via_ctypes["39"]).any()

    # Side by side, alternating, so that noise on the shared cores hits both alike.
    pc = time.perf_counter_ns
    ctypes_ns: list[int] = []
    native_ns: list[int] = []
    for _ in range(5):
        for _ in range(1000):
            t0 = pc()
            backend.run(prepared)
            ctypes_ns.append(pc() - t0)
        native_ns += backend.native_timing(prepared, 1000)
    native_median, ctypes_median = statistics.median(native_ns), statistics.median(ctypes_ns)
    assert native_median > 0
    # The C++ loop does less than the ctypes call (no Python, no ctypes); 1.5 is generous.
    assert native_median <= 1.5 * ctypes_median, (native_median, ctypes_median)
    overhead = backend.native_timer_overhead_ns()
    assert 0 <= overhead < native_median
    assert backend.settings()["built_in"] == "parent"


@pytest.mark.shared
def test_native_timing_refuses_bad_counts_and_stale_buffers(linear_build):
    _, build = linear_build
    backend = SofieBackend()
    artifact = _worker_artifact(build.to_dict())
    backend.load(artifact, SofieOptions())
    prepared = backend.prepare(build_inputs(artifact.ref, artifact.spec, 1, {}, seed=1))
    with pytest.raises(ConfigurationError, match="n_calls >= 1"):
        backend.native_timing(prepared, 0, 0)
    prepared.library = "elsewhere.so"
    with pytest.raises(Exception, match="prepare them again"):
        backend.native_timing(prepared, 10, 0)


@pytest.mark.shared
def test_a_build_with_other_options_is_refused_by_load(linear_build):
    _, build = linear_build
    with pytest.raises(ConfigurationError) as err:
        SofieBackend().load(_worker_artifact(build.to_dict()), SofieOptions(opt="-O2", isa="portable"))
    assert str(err.value) == (
        "sofie: the library handed to load was built with isa=native (asked portable), "
        "opt=-O3 (asked -O2); build it again with the worker's options (SofieBackend.prebuild)"
    )
