"""OpenVINO backend: explicit precision and threads recorded, zero-copy path, agreement with ORT."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import SHARED_MODELS, ort_outputs, run_once, zoo_artifact
from hepinfer.backends.openvino import OpenVinoBackend, OpenVinoOptions
from hepinfer.errors import BackendUnavailable
from hepinfer.zoo import build_inputs

pytest.importorskip("openvino")

# torch.export warns from copyreg (outside the torch.* filter of pyproject) when exporting.
pytestmark = pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)`:FutureWarning")


@pytest.mark.shared
def test_real_file_agrees_with_onnxruntime_and_records_settings():
    path = SHARED_MODELS / "rootbench" / "Linear_event.onnx"
    if not path.exists():
        pytest.skip(f"real models not found at {SHARED_MODELS}")
    artifact = zoo_artifact(str(path))
    inputs = build_inputs(artifact.ref, artifact.spec, 1, {}, seed=3)
    backend = OpenVinoBackend()
    got = run_once(backend, artifact, OpenVinoOptions(threads=1), inputs)
    want = ort_outputs(artifact, inputs)
    assert list(got) == list(want) == ["39"]
    np.testing.assert_allclose(got["39"], want["39"], rtol=1e-4, atol=1e-5)
    s = backend.settings()
    # f32 is asked for explicitly (this CPU would otherwise pick bf16) and read back.
    assert s["requested"]["INFERENCE_PRECISION_HINT"] == "f32"
    assert s["inference_precision_hint"] in ("f32", "<Type: 'float32'>", "float32")
    assert s["inference_num_threads"] == "1"
    assert s["performance_hint"].upper().endswith("LATENCY")
    assert s["compile_s"] > 0


@pytest.mark.slow
def test_zoo_model_zero_copy_and_copying_paths_agree():
    artifact = zoo_artifact("linear_event")
    inputs = build_inputs(artifact.ref, artifact.spec, 4, {}, seed=1)
    want = ort_outputs(artifact, inputs)
    shared = OpenVinoBackend()
    shared.load(artifact, OpenVinoOptions(hint="throughput"))
    prepared = shared.prepare(inputs)
    out_buffer = prepared.outputs[0]
    shared.run(prepared)
    # The zero-copy path writes into the array bound at prepare time.
    np.testing.assert_allclose(out_buffer, want["output"], rtol=1e-4, atol=1e-5)
    assert shared.settings()["performance_hint"].upper().endswith("THROUGHPUT")
    copying = run_once(OpenVinoBackend(), artifact, OpenVinoOptions(zero_copy=False), inputs)
    np.testing.assert_allclose(copying["output"], want["output"], rtol=1e-4, atol=1e-5)
    dynamic = OpenVinoBackend()
    got = run_once(dynamic, artifact, OpenVinoOptions(static_shapes=False), inputs)
    np.testing.assert_allclose(got["output"], want["output"], rtol=1e-4, atol=1e-5)
    assert dynamic.settings()["static_shapes"] is False
    # New input values in the bound buffer are seen by the next call, without re-binding.
    prepared.inputs["input"][:] = 0.0
    shared.run(prepared)
    zero = ort_outputs(artifact, {"input": np.zeros_like(inputs["input"])})
    np.testing.assert_allclose(prepared.outputs[0], zero["output"], rtol=1e-4, atol=1e-5)


def test_options_parse_and_refuse_unknown_precision():
    opts = OpenVinoOptions.from_strings("openvino", {"precision": "bf16", "zero_copy": "false"})
    assert opts.variant() == {"precision": "bf16", "zero_copy": False}
    with pytest.raises(Exception, match="choose one of f32, bf16, f16"):
        OpenVinoOptions.from_strings("openvino", {"precision": "int4"})


def test_missing_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    assert OpenVinoBackend.unavailable_reason() == (
        "openvino, which is not installed; install it with: pip install 'hepinfer[openvino]'"
    )
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)
    with pytest.raises(BackendUnavailable, match=r"hepinfer\[openvino\]"):
        OpenVinoBackend().load(zoo_artifact("linear_event"), OpenVinoOptions())


@pytest.mark.shared
def test_real_tagger_with_masks_and_dynamic_axes():
    path = SHARED_MODELS / "cms" / "ParticleNetAK4_CHS_V01.onnx"
    if not path.exists():
        pytest.skip(f"real models not found at {SHARED_MODELS}")
    artifact = zoo_artifact(str(path))
    # The kNN inside takes k=16 neighbours: 17 or more points.
    inputs = build_inputs(artifact.ref, artifact.spec, 2, {"n_pf": 20, "n_sv": 4}, seed=0)
    got = run_once(OpenVinoBackend(), artifact, OpenVinoOptions(), inputs)
    want = ort_outputs(artifact, inputs)
    assert got["softmax"].shape == (2, 4)
    np.testing.assert_allclose(got["softmax"], want["softmax"], rtol=1e-4, atol=1e-5)
