"""Models in their own formats (TorchScript, Keras, GraphDef, MXNet), their ONNX conversions,
and foreign ONNX files on PyTorch (onnx2torch, in its venv) and TensorFlow (onnx2keras)."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FAST_TIMING
from hepinfer.errors import ConfigurationError, ConversionError, ModelError
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run_bench
from hepinfer.venvs import side_python
from hepinfer.zoo import BATCH, model_ref, spec_of
from hepinfer.zoo.native_file import parse_shape

FAST = TimingPolicy(**FAST_TIMING)
# Keras/tf2onnx under numpy 2 (their own internals, in the parent-side conversions).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"
)


def bench(model: str, backends: list[str], **kw: Any) -> dict[str, dict[str, Any]]:
    records = run_bench(BenchRequest(model=model, backends=backends, policy=FAST, **kw))
    return {r["key"]["backend"]: r for r in records}


def ok(record: dict[str, Any]) -> dict[str, Any]:
    assert record["status"] == "ok", record.get("error")
    return record


# --- recognising files, shapes, bad files: no framework runs -------------------------------


def test_parse_shape() -> None:
    assert parse_shape("x", "B,42,100,1") == (BATCH, 42, 100, 1)
    assert parse_shape("x", "-1,n_pf") == (BATCH, "n_pf")
    with pytest.raises(ConfigurationError, match="batch axis"):
        parse_shape("x", "4,B")
    with pytest.raises(ConfigurationError, match="not a size"):
        parse_shape("x", "B,4.5")


def test_kinds_from_paths(tmp_path: Path) -> None:
    for name, kind in (
        ("m.pt", "torchscript"),
        ("m.keras", "keras"),
        ("m.h5", "keras"),
        ("g.pb", "graphdef"),
    ):
        (tmp_path / name).write_bytes(b"x")
        assert model_ref(str(tmp_path / name)).kind == kind
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"x")
    assert model_ref(str(saved)).kind == "savedmodel"
    (tmp_path / "net-symbol.json").write_text('{"nodes": [], "heads": []}')
    (tmp_path / "net-0000.params").write_bytes(b"x")
    for given in ("net-symbol.json", "net", "net-0000.params"):
        ref = model_ref(str(tmp_path / given))
        assert (ref.kind, ref.name) == ("mxnet", str(tmp_path / "net"))


def test_params_without_symbol_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "net-0000.params").write_bytes(b"x")
    with pytest.raises(ModelError, match=r"needs its symbol file net-symbol\.json"):
        model_ref(str(tmp_path / "net-0000.params"))


def test_pickle_is_refused_as_torchscript(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    ref = model_ref(str(path), inputs={"x": "B,2"})
    with pytest.raises(ModelError, match="not a TorchScript archive") as err:
        spec_of(ref)
    assert "\n" not in str(err.value)


# --- tiny models made here -----------------------------------------------------------------


@pytest.fixture
def torchscript_file(tmp_path: Path) -> Path:
    """The zoo's linear_event, scripted and saved as a TorchScript archive."""
    import torch

    from hepinfer.zoo import entry

    module = entry("linear_event").build({})
    path = tmp_path / "linear.pt"
    torch.jit.save(torch.jit.script(module.eval()), str(path))
    return path


@pytest.mark.slow
def test_torchscript_on_pytorch_and_its_onnx(torchscript_file: Path) -> None:
    spec = spec_of(model_ref(str(torchscript_file), inputs={"input": "B,100"}))
    assert [t.shape for t in spec.inputs] == [(BATCH, 100)]
    got = bench(str(torchscript_file), ["pytorch", "onnxruntime"], inputs={"input": "B,100"}, batches=[4])
    assert ok(got["pytorch"])["agreement"]["verdict"] == "reference"
    ort = ok(got["onnxruntime"])
    made = ort["one_off"]["conversion"]["torchscript_to_onnx"]
    assert (made["tool"], made["exporter"]) == ("torch.onnx", "legacy")
    assert ort["agreement"]["outputs"]["output_0"]["max_abs"] < 1e-5


@pytest.fixture
def keras_file(tmp_path: Path) -> Path:
    import keras

    inp = keras.Input((6,), name="features")
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inp))
    path = tmp_path / "tiny.keras"
    with warnings.catch_warnings():  # keras's own numpy-2 deprecation, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        keras.Model(inp, out).save(str(path))
    return path


@pytest.mark.slow
def test_keras_file_on_tensorflow_and_tf2onnx(keras_file: Path) -> None:
    spec = spec_of(model_ref(str(keras_file)))
    assert [t.shape for t in spec.inputs] == [(BATCH, 6)]
    got = bench(str(keras_file), ["tensorflow", "onnxruntime"], batches=[3])
    assert ok(got["tensorflow"])["agreement"]["verdict"] == "reference"
    ort = ok(got["onnxruntime"])
    assert ort["one_off"]["conversion"]["keras_to_onnx"]["tool"] == "tf2onnx"
    assert max(o["max_abs"] for o in ort["agreement"]["outputs"].values()) < 1e-5


@pytest.fixture
def graphdef_file(tmp_path: Path) -> Path:
    """A frozen TF1 graph with a Keras-style learning-phase placeholder switching dropout."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, None, name="input_1")
        phase = tf.compat.v1.placeholder(tf.bool, (), name="dense/keras_learning_phase")
        w = tf.constant(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        y = tf.matmul(x, w)
        # Training doubles the output: fed as inference, the graph must not.
        y = tf.compat.v1.cond(phase, lambda: y * 2.0, lambda: y)
        tf.nn.softmax(y, name="ID_pred/Softmax")
    path = tmp_path / "frozen.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


@pytest.mark.slow
def test_graphdef_needs_shapes_then_runs_as_inference(graphdef_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="--input NAME=B"):
        spec_of(model_ref(str(graphdef_file)))
    got = bench(str(graphdef_file), ["tensorflow", "onnxruntime"], inputs={"input_1": "B,4"}, batches=[2])
    tf_rec, ort = ok(got["tensorflow"]), ok(got["onnxruntime"])
    assert tf_rec["model"]["outputs"] == ["ID_pred/Softmax[batch, ?] float32"]
    assert ort["one_off"]["conversion"]["graphdef_to_onnx"]["tool"] == "tf2onnx"
    assert ort["agreement"]["outputs"]["ID_pred/Softmax"]["max_abs"] < 1e-6


@pytest.mark.slow
def test_graphdef_learning_phase_fed_false(graphdef_file: Path) -> None:
    import tensorflow as tf

    from hepinfer.convert.tf_graph import tf_callable

    ref = model_ref(str(graphdef_file), inputs={"input_1": "B,4"})
    fn, _ = tf_callable(ref, spec_of(ref))
    x = np.ones((1, 4), np.float32)
    logits = x @ (np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
    want = np.exp(logits) / np.exp(logits).sum()  # the inference branch (no doubling)
    np.testing.assert_allclose(np.array(fn(tf.constant(x))[0]), want, rtol=1e-6)


@pytest.mark.slow
def test_savedmodel_without_serving_signature(tmp_path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "nosig"))
    with pytest.raises(ModelError, match="no serving signature 'serving_default'"):
        spec_of(model_ref(str(tmp_path / "nosig"), inputs={"x": "B,1"}))


# --- foreign ONNX files on PyTorch and TensorFlow ------------------------------------------


needs_onnx2torch = pytest.mark.skipif(
    side_python("onnx2torch") is None, reason="the onnx2torch venv is absent (make onnx2torch)"
)
needs_mxnet = pytest.mark.skipif(side_python("mxnet") is None, reason="the mxnet venv is absent (make mxnet)")


@pytest.mark.slow
@pytest.mark.shared
@needs_onnx2torch
def test_foreign_onnx_on_pytorch_in_its_venv(shared_models: Path) -> None:
    got = bench(str(shared_models / "rootbench/Linear_event.onnx"), ["onnxruntime", "pytorch"])
    rec = ok(got["pytorch"])
    made = rec["one_off"]["conversion"]["onnx_to_torch"]
    assert made["tool"] == "onnx2torch" and made["torch_version"].startswith("2.14")
    assert rec["process"]["modules"] == ["torch"]  # the venv's torch, nothing else
    assert max(o["max_abs"] for o in rec["agreement"]["outputs"].values()) < 1e-5


@pytest.mark.slow
@pytest.mark.shared
@needs_onnx2torch
def test_unconvertible_onnx_names_the_operator(shared_models: Path) -> None:
    got = bench(str(shared_models / "cms/DeepJet_Run3_122X.onnx"), ["onnxruntime", "pytorch"], dims={})
    assert ok(got["onnxruntime"])
    err = got["pytorch"]["error"]
    assert got["pytorch"]["status"] == "error" and err["phase"] == "convert"
    assert "at operator LSTM" in err["message"]


@pytest.mark.slow
@pytest.mark.shared
def test_foreign_onnx_on_tensorflow_via_onnx2keras(shared_models: Path) -> None:
    pytest.importorskip("onnx2keras")
    got = bench(str(shared_models / "rootbench/higgs_model_dense.onnx"), ["onnxruntime", "tensorflow"])
    rec = ok(got["tensorflow"])
    assert rec["one_off"]["conversion"]["onnx_to_keras"]["tool"] == "onnx2keras"
    assert max(o["max_abs"] for o in rec["agreement"]["outputs"].values()) < 1e-5


def test_onnx2keras_failure_names_operator(shared_models: Path) -> None:
    pytest.importorskip("onnx2keras")
    from hepinfer.convert.onnx_keras import onnx_to_keras

    path = shared_models / "cms/DeepJet_Run3_122X.onnx"
    with pytest.raises(
        ConversionError, match=r"DeepJet_Run3_122X\.onnx at operator LSTM \(node '/cpf_lstm/LSTM'"
    ) as err:
        onnx_to_keras(path, [f"input_{i}" for i in range(1, 6)])
    assert "\n" not in str(err.value)


# --- the real originals CMS ran before ONNX Runtime ----------------------------------------


@pytest.mark.slow
@pytest.mark.shared
@needs_mxnet
def test_deepak8_mxnet_agrees_with_its_onnx_twin(shared_models: Path) -> None:
    prefix = shared_models / "cms-originals/DeepAK8_V02_full/resnet-symbol.json"
    twin = shared_models / "cms/DeepAK8_V02_full.onnx"
    got = bench(str(prefix), ["mxnet", "onnxruntime"], like=str(twin))
    mx = ok(got["mxnet"])
    settings = mx["backend"]["settings"]
    assert (settings["mxnet"], settings["engine"], settings["onednn"]) == ("1.9.1", "NaiveEngine", False)
    assert mx["process"]["modules"] == ["mxnet"]
    assert ok(got["onnxruntime"])["agreement"]["outputs"]["softmax"]["max_abs"] < 1e-5


@pytest.mark.slow
@pytest.mark.shared
def test_deepdoubleb_graphdef_agrees_with_its_twin(shared_models: Path) -> None:
    folder = shared_models / "cms-originals/DeepDoubleX_94X_V01_DDB"
    got = bench(
        str(folder / "DDB.pb"), ["tensorflow", "onnxruntime"], like=str(folder / "DDB.onnx"), exporter="twin"
    )
    ort = ok(got["onnxruntime"])
    assert ort["one_off"]["conversion"]["twin"]["path"].endswith("DDB.onnx")
    assert ok(got["tensorflow"])["agreement"]["verdict"] == "reference"
    assert ort["agreement"]["outputs"]["ID_pred_2/Softmax:0"]["max_abs"] < 1e-5


@pytest.mark.slow
@pytest.mark.shared
def test_sofie_from_the_onnx2keras_model_beside_sofie_from_onnx(shared_models: Path) -> None:
    """The seed's route ONNX -> Keras -> SOFIE, measured beside SOFIE's ONNX parser."""
    pytest.importorskip("onnx2keras")
    pytest.importorskip("sofie")
    model = str(shared_models / "rootbench/Linear_event.onnx")
    records = run_bench(
        BenchRequest(
            model=model,
            backends=["onnxruntime", "sofie"],
            options={"sofie": {"parser": ["onnx", "keras"]}},
            policy=FAST,
        )
    )
    sofie = {
        r["key"]["options"].get("parser", "onnx"): ok(r) for r in records if r["key"]["backend"] == "sofie"
    }
    assert set(sofie) == {"onnx", "keras"}
    via_keras = sofie["keras"]
    made = via_keras["one_off"]["conversion"]
    assert made["onnx_to_keras"]["tool"] == "onnx2keras"
    assert made["keras_to_sofie"]["parser"] == "keras"
    assert "onnx_to_keras" not in sofie["onnx"]["one_off"]["conversion"]
    settings = via_keras["backend"]["settings"]
    assert settings["route"] == "onnx -> keras (onnx2keras) -> sofie" and settings["built_in"] == "parent"
    assert sofie["onnx"]["backend"]["settings"]["route"] == "onnx -> sofie"
    for rec in sofie.values():
        assert rec["agreement"]["reference"]["backend"] == "onnxruntime"
        assert max(o["max_abs"] for o in rec["agreement"]["outputs"].values()) < 1e-5


@pytest.mark.slow
@pytest.mark.shared
@needs_onnx2torch
def test_memory_and_validate_run_the_venv_backend_under_its_interpreter(shared_models: Path) -> None:
    """memory and validate start the onnx2torch pytorch worker under the venv's Python, as bench does."""
    import hepinfer

    model = str(shared_models / "rootbench/Linear_event.onnx")
    (mem,) = hepinfer.memory(model, backends=["pytorch"], batches=[1], calls=2)
    assert mem["status"] == "ok", mem.get("error")
    assert mem["environment"]["versions"]["torch"].startswith("2.14")  # the venv's torch
    report = hepinfer.validate(model, backends=["onnxruntime", "pytorch"])
    (row,) = [b for b in report["backends"] if b["backend"] == "pytorch"]
    assert row["settings"]["mode"] == "eager" and "error" not in json.dumps(row).lower(), row
