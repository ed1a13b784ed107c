"""TensorFlow backend and Keras twins: PyTorch's function, three call modes, tf2onnx export."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from conftest import SHARED_MODELS, run_once, zoo_artifact
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeOptions
from hepinfer.backends.tensorflow import TensorFlowBackend, TensorFlowOptions
from hepinfer.errors import BackendUnavailable, ConfigurationError
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run_bench
from hepinfer.zoo import build_inputs
from hepinfer.zoo.keras_twins import build_keras, has_keras

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

# torch.export warns from copyreg (outside the torch.* filter of pyproject) when exporting;
# TensorFlow's own modules warn about numpy and protobuf internals on import.
pytestmark = [
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tensorflow.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]

# In this process TensorFlow may already be started (by another test): leave its pools alone.
# Thread settings are checked through worker processes, in the end-to-end test.
SAME_PROCESS = {"threads": 0, "inter_op_threads": 0}
FAST = TimingPolicy(max_time_s=0.3, min_calls=5, warmup_calls=2, warmup_s=0.0)


@pytest.mark.slow
def test_keras_twin_of_higgs_computes_the_pytorch_function():
    import torch

    artifact = zoo_artifact("higgs_model_dense")
    assert "keras" in artifact.formats
    inputs = build_inputs(artifact.ref, artifact.spec, 5, {}, seed=2)
    with torch.inference_mode():
        want = artifact.torch_module()(torch.from_numpy(inputs["input"])).numpy()
    for mode in ("function", "call", "predict_on_batch"):
        got = run_once(TensorFlowBackend(), artifact, TensorFlowOptions(mode=mode, **SAME_PROCESS), inputs)
        np.testing.assert_allclose(got["output"], want, rtol=1e-5, atol=1e-6, err_msg=mode)
    model = artifact.keras_model()
    assert model.count_params() == 41_402


@pytest.mark.slow  # an export (or XLA compilation) first
def test_xla_function_agrees_and_settings_are_recorded():
    import torch

    backend = TensorFlowBackend()
    artifact = zoo_artifact("higgs_model_dense")
    inputs = build_inputs(artifact.ref, artifact.spec, 3, {}, seed=8)
    got = run_once(backend, artifact, TensorFlowOptions(xla=True, **SAME_PROCESS), inputs)
    with torch.inference_mode():
        want = artifact.torch_module()(torch.from_numpy(inputs["input"])).numpy()
    np.testing.assert_allclose(got["output"], want, rtol=1e-5, atol=1e-6)
    s = backend.settings()
    assert s["mode"] == "function" and s["xla"] is True and s["keras_backend"] == "tensorflow"


def test_jet_vae_twin_layout_and_size():
    assert has_keras("jet_vae") and not has_keras("event_vae")
    model = build_keras("jet_vae", {}, weights_from_torch=False)
    assert model.count_params() == 417_701  # ../shared/zoo-spec.md
    assert [t.name for t in model.inputs] == ["jet"]
    assert model.output_names == ["reconstruction", "z_mean", "z_log_var"]
    x = np.zeros((2, 100, 3), dtype=np.float32)
    recon, z_mean, z_log_var = model(x, training=False)
    assert recon.shape == (2, 100, 3) and z_mean.shape == (2, 12) and z_log_var.shape == (2, 12)


@pytest.mark.slow
def test_tf2onnx_export_agrees_and_is_recorded():
    artifact = zoo_artifact("higgs_model_dense", exporter="tf2onnx")
    path = artifact.onnx_path()
    record = artifact.conversions["keras_to_onnx"]
    assert record["exporter"] == "tf2onnx" and record["opset"] == 17
    assert record["tf2onnx_version"] == __import__("tf2onnx").__version__
    assert "tf2onnx" in path.name
    inputs = build_inputs(artifact.ref, artifact.spec, 3, {}, seed=4)
    got = run_once(OnnxRuntimeBackend(), artifact, OnnxRuntimeOptions(), inputs)
    want = run_once(
        TensorFlowBackend(),
        zoo_artifact("higgs_model_dense"),
        TensorFlowOptions(**SAME_PROCESS),
        inputs,
    )
    assert list(got) == ["output"]
    np.testing.assert_allclose(got["output"], want["output"], rtol=1e-5, atol=1e-6)


@pytest.mark.shared
def test_unconverted_onnx_file_is_refused_in_one_line():
    # An ONNX file reaches TensorFlow through onnx2keras in the parent (tests/test_formats.py);
    # loaded without that conversion, it is refused in one line.
    path = SHARED_MODELS / "rootbench" / "higgs_model_dense.onnx"
    if not path.exists():
        pytest.skip(f"real models not found at {SHARED_MODELS}")
    with pytest.raises(BackendUnavailable, match="was not converted by onnx2keras in the parent"):
        TensorFlowBackend().load(zoo_artifact(str(path)), TensorFlowOptions())


def test_no_twin_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="has no Keras twin"):
        build_keras("linear_event", {})


def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    assert TensorFlowBackend.unavailable_reason() == (
        "tensorflow (from tensorflow-cpu), which is not installed; install it with: "
        "pip install 'hepinfer[tensorflow]'"
    )
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(BackendUnavailable, match=r"hepinfer\[tensorflow\]"):
        TensorFlowBackend().load(zoo_artifact("higgs_model_dense"), TensorFlowOptions())


@pytest.mark.slow
def test_bench_every_new_backend_agrees_with_the_reference(tmp_path):
    """End to end through worker processes: TensorFlow, OpenVINO and SOFIE against PyTorch."""
    request = BenchRequest(
        model="higgs_model_dense",
        backends=("pytorch", "tensorflow", "openvino", "sofie"),
        batches=(2,),
        policy=FAST,
        timeout_s=300,
    )
    records = run_bench(request, out=tmp_path / "r.jsonl")
    by = {(r["key"]["backend"], r["key"]["options"].get("mode")): r for r in records}
    assert set(by) == {
        ("pytorch", None),
        ("tensorflow", None),
        ("openvino", None),
        ("sofie", None),
    }
    for key, r in by.items():
        assert r["status"] == "ok", (key, r.get("error"))
        assert r["agreement"]["verdict"] in ("reference", "identical", "within tolerance"), key
    sofie_build = by[("sofie", None)]["one_off"]["conversion"]["onnx_to_sofie"]
    assert sofie_build["inputs"][0]["shape"] == [2, 7]
    tf_settings = by[("tensorflow", None)]["backend"]["settings"]
    assert tf_settings["intra_op_parallelism_threads"] == 1
    assert tf_settings["inter_op_parallelism_threads"] == 1
    ov_settings = by[("openvino", None)]["backend"]["settings"]
    assert ov_settings["requested"]["INFERENCE_PRECISION_HINT"] == "f32"
