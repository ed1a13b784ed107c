"""SOFIE backend: generated C++ compiled per batch, cached, agreement with ORT, clear refusals."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS, ort_outputs, run_once, zoo_artifact
from hepinfer.backends.sofie import SofieBackend, SofieOptions
from hepinfer.convert import sofie as convert
from hepinfer.errors import BackendUnavailable, ConversionError
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
    again = convert.build(artifact.onnx_path(), {"input.1": [1, 100]})
    assert again.cached and again.library == backend.build.library
    assert len(list((tmp_path / "sofie").iterdir())) == 1


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


def test_unsupported_operator_in_a_real_file():
    path = _shared("cms/DeepAK8_V02_full.onnx")
    assert convert.unsupported_operators(path) == {"Dropout": 1}


def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "sofie" else real(n, *a))
    assert SofieBackend.unavailable_reason() == (
        "sofie is not installed; install it with: pip install 'hepinfer[sofie]'"
    )
    monkeypatch.setitem(sys.modules, "sofie", None)
    with pytest.raises(BackendUnavailable, match=r"hepinfer\[sofie\]"):
        SofieBackend().load(zoo_artifact("linear_event"), SofieOptions())


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
