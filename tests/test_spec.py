"""ModelSpec from ONNX files with the batch-axis encodings real exports use, and input building."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hepinfer.errors import ConfigurationError, ModelError
from hepinfer.zoo import BATCH, build_inputs, model_ref, spec_of
from hepinfer.zoo.onnx_file import spec_from_onnx


def _relu_model(path: Path, dims: list[object], weight_as_input: bool = False) -> Path:
    """x -> Relu(x) (+ an unused weight listed among graph inputs, as MXNet exports do)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    inputs = [x]
    inits = []
    if weight_as_input:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [3]))
        inits.append(helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0]))
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", inputs, [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("batch_dim", [0, "1", "N", "batch_size", "unk__123", None])
def test_batch_axis_encodings(tmp_path: Path, batch_dim: object) -> None:
    spec = spec_from_onnx(_relu_model(tmp_path / "m.onnx", [batch_dim, 4]))
    assert spec.inputs[0].shape == (BATCH, 4)
    assert spec.fixed_batch is None
    assert spec.outputs[0].shape[0] == BATCH
    spec.check_batch(7)  # any batch size


def test_fixed_batch_and_rank_one(tmp_path: Path) -> None:
    fixed = spec_from_onnx(_relu_model(tmp_path / "f.onnx", [16, 4]))
    assert fixed.fixed_batch == 16 and fixed.default_batch() == 16
    with pytest.raises(ConfigurationError, match="fixed to 16"):
        fixed.check_batch(1)
    single = spec_from_onnx(_relu_model(tmp_path / "s.onnx", [16]))
    assert single.inputs[0].shape == (16,) and single.fixed_batch == 1


def test_weights_listed_as_inputs_are_not_inputs(tmp_path: Path) -> None:
    spec = spec_from_onnx(_relu_model(tmp_path / "w.onnx", ["N", 4], weight_as_input=True))
    assert [t.name for t in spec.inputs] == ["x"]


def test_dynamic_axes_need_a_size(tmp_path: Path) -> None:
    spec = spec_from_onnx(_relu_model(tmp_path / "d.onnx", ["N", "n_pf"]))
    with pytest.raises(ConfigurationError, match=r"--dim n_pf=N"):
        spec.resolve_dims({})
    assert spec.resolve_dims({"n_pf": 50}) == {"n_pf": 50}
    with pytest.raises(ConfigurationError, match="no dynamic axis"):
        spec.resolve_dims({"n_pf": 50, "n_sv": 3})
    with pytest.raises(ConfigurationError, match="1 or more"):
        spec.resolve_dims({"n_pf": 0})


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        spec_from_onnx(tmp_path / "missing.onnx")
    text = tmp_path / "text.onnx"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        spec_from_onnx(text)
    good = _relu_model(tmp_path / "g.onnx", ["N", 4]).read_bytes()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError):
        spec_from_onnx(tmp_path / "cut.onnx")


def test_real_particlenet_masks_are_realistic(shared_models: Path) -> None:
    path = shared_models / "cms" / "ParticleNetAK8_General_V01.onnx"
    ref = model_ref(str(path))
    spec = spec_of(ref)
    assert spec.symbols() == ["n_pf", "n_sv"]
    inputs = build_inputs(ref, spec, 64, {"n_pf": 100, "n_sv": 10}, seed=3)
    mask = inputs["pf_mask"][:, 0, :]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    n_real = mask.sum(axis=1)
    assert n_real.min() >= 1 and n_real.max() <= 100 and len(set(n_real)) > 10
    # Real particles first, then padding; features are zero on the padding.
    assert np.all(np.diff(mask, axis=1) <= 0)
    feats = inputs["pf_features"]
    assert np.all(feats[np.broadcast_to(mask[:, None, :] == 0, feats.shape)] == 0)
    assert np.any(feats[np.broadcast_to(mask[:, None, :] == 1, feats.shape)] != 0)
    again = build_inputs(ref, spec, 64, {"n_pf": 100, "n_sv": 10}, seed=3)
    assert all(np.array_equal(inputs[k], again[k]) for k in inputs)


def test_real_files_batch_axes(shared_models: Path) -> None:
    ak8 = spec_of(model_ref(str(shared_models / "cms" / "DeepAK8_V02_full.onnx")))
    assert [t.name for t in ak8.inputs] == ["pfcand", "sv"]  # not its 127 weights
    assert ak8.inputs[0].shape == (BATCH, 42, 100, 1) and ak8.batch_encodings == ("0", "0")
    ddb = spec_of(model_ref(str(shared_models / "rootbench" / "DDB_B1.onnx")))
    assert ddb.inputs[0].shape[0] == BATCH and "'1'" in ddb.batch_encodings
    assert ddb.notes  # the checker's objection is kept as a note, not an error
    linear = spec_of(model_ref(str(shared_models / "rootbench" / "Linear_event.onnx")))
    assert linear.fixed_batch == 1


def test_zoo_inputs_are_seeded_and_realistic() -> None:
    ref = model_ref("event_vae")
    spec = spec_of(ref)
    a = build_inputs(ref, spec, 8, {}, seed=1)
    b = build_inputs(ref, spec, 8, {}, seed=1)
    c = build_inputs(ref, spec, 8, {}, seed=2)
    assert a["objects"].shape == (8, 1, 32, 4) and a["met"].shape == (8, 1)
    assert np.array_equal(a["objects"], b["objects"]) and not np.array_equal(a["objects"], c["objects"])
    pt = a["objects"][:, 0, :8, 1]  # the jet rows
    assert np.all(pt >= 0) and np.any(pt == 0)  # empty slots are zero
    # Jets are sorted by falling pT.
    filled = pt[pt[:, 0] > 0]
    assert np.all(np.diff(filled, axis=1)[filled[:, 1:] > 0] <= 0)
    with pytest.raises(ConfigurationError, match="R >= 13"):
        model_ref("event_vae", {"R": 12})
