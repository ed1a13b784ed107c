"""The conversion matrix of a model (``hepinfer.conversion_matrix``, ``hepinfer zoo FILE --matrix``)
and its section in the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hepinfer
from hepinfer.report import conversions as shown
from hepinfer.runner import conversions

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning",
    "ignore::UserWarning",
)


def test_the_report_reads_the_format_the_runner_writes() -> None:
    assert shown.FORMAT == conversions.FORMAT


@pytest.mark.slow
@pytest.mark.shared
def test_matrix_of_a_foreign_onnx_file(shared_models: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("onnx2keras")
    pytest.importorskip("sofie")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    model = str(shared_models / "rootbench/Linear_event.onnx")
    results = tmp_path / "results.jsonl"
    results.write_text("")
    matrix = hepinfer.conversion_matrix(model, out=results)
    rows = {(r["route"], r["tool"]): r for r in matrix["routes"]}
    assert matrix["source"] == "onnx" and not matrix["cached"]
    for route in ("onnx -> keras", "onnx -> sofie", "keras -> sofie", "keras -> onnx"):
        (row,) = [r for (name, _), r in rows.items() if name == route]
        assert row["status"] == "ok", row
        assert 0.0 <= row["max_abs"] < 1e-5
    from hepinfer.venvs import side_python

    torch_row = rows[("onnx -> pytorch", "onnx2torch")]
    if side_python("onnx2torch") is not None:
        assert torch_row["status"] == "ok" and torch_row["max_abs"] < 1e-5
    for exporter in ("dynamo", "legacy"):
        assert rows[("torch -> onnx", f"torch.onnx {exporter}")]["status"] == "n/a"
    again = hepinfer.conversion_matrix(model)
    assert again["cached"] and again["routes"] == matrix["routes"]
    # Kept beside the results, and rendered into the HTML report of those results.
    stored = json.loads((tmp_path / "results.jsonl.conversions.json").read_text())
    assert list(stored) == ["Linear_event.onnx"]
    from hepinfer.report import html

    page = html.render([], sources=[str(results)], figs={})
    assert "Conversions of Linear_event.onnx" in page and "onnx2torch" in page


@pytest.mark.slow
def test_a_failing_route_names_the_operator(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("sofie")
    import onnx
    from onnx import TensorProto, helper

    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    slope = helper.make_tensor("slope", TensorProto.FLOAT, [4], [0.25] * 4)
    graph = helper.make_graph([helper.make_node("PRelu", ["x", "slope"], ["y"])], "g", [x], [y], [slope])
    path = tmp_path / "prelu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    matrix = hepinfer.conversion_matrix(str(path))
    (row,) = [r for r in matrix["routes"] if r["route"] == "onnx -> sofie"]
    assert row["status"] == "failed" and "PRelu" in row["error"] and "\n" not in row["error"]
    from hepinfer.report.zoo import matrix_table

    assert matrix_table(matrix).row_count == len(conversions.ROUTES)


def test_matrix_refuses_a_file_of_another_format(tmp_path: Path) -> None:
    from hepinfer.errors import ConfigurationError
    from hepinfer.zoo import model_ref, spec_of

    path = tmp_path / "m.pt"
    path.write_bytes(b"not a zip")
    with pytest.raises(Exception) as err:
        ref = model_ref(str(path), inputs={"x": "B,4"})
        conversions.conversion_matrix(ref, spec_of(ref))
    assert isinstance(err.value, ConfigurationError | hepinfer.errors.HepinferError)


def _rows(matrix: dict) -> dict[tuple[str, str], dict]:
    return {(r["route"], r["tool"]): r for r in matrix["routes"]}


@pytest.mark.slow
def test_matrix_of_a_zoo_model_exports_with_each_torch_exporter(tmp_path: Path, monkeypatch) -> None:
    """linear_event (no Keras twin): against its PyTorch definition, both torch.onnx exporters
    and the routes from their ONNX file agree; the Keras-twin routes say there is none."""
    pytest.importorskip("onnx2keras")
    pytest.importorskip("sofie")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    matrix = hepinfer.conversion_matrix("linear_event")
    rows = _rows(matrix)
    assert matrix["source"] == "torch" and matrix["model"] == "linear_event"
    from hepinfer.venvs import side_python

    ok = [("torch -> onnx", "torch.onnx dynamo"), ("torch -> onnx", "torch.onnx legacy")]
    ok += [("onnx -> keras", "onnx2keras"), ("onnx -> sofie", "SOFIE onnx parser")]
    if side_python("onnx2torch") is not None:
        ok.append(("onnx -> pytorch", "onnx2torch"))
    for key in ok:
        assert rows[key]["status"] == "ok", rows[key]
        assert 0.0 <= rows[key]["max_abs"] < 1e-5, rows[key]  # outputs are O(0.1): fp32 rounding
    for key in (("keras -> sofie", "SOFIE keras parser"), ("keras -> onnx", "tf2onnx")):
        assert rows[key]["status"] == "n/a" and rows[key]["reason"] == "linear_event has no Keras twin"


@pytest.mark.slow
def test_matrix_of_a_zoo_model_with_a_keras_twin(tmp_path: Path, monkeypatch) -> None:
    """l1_ad_vae's encoder: its Keras twin through tf2onnx agrees with the PyTorch definition;
    the routes that fail say in which tool and at which layer or operator."""
    pytest.importorskip("onnx2keras")
    pytest.importorskip("sofie")
    pytest.importorskip("tf2onnx")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    matrix = hepinfer.conversion_matrix("l1_ad_vae")
    rows = _rows(matrix)
    assert matrix["source"] == "torch"
    twin = rows[("keras -> onnx", "tf2onnx")]
    assert twin["status"] == "ok" and 0.0 <= twin["max_abs"] < 1e-4, twin  # scores are O(1)
    for exporter in ("dynamo", "legacy"):
        row = rows[("torch -> onnx", f"torch.onnx {exporter}")]
        assert row["status"] == "ok" and row["max_abs"] < 1e-5, row
    # onnx2keras writes sum(mu^2)'s ReduceSum as a Lambda holding a local function, which Keras
    # cannot load again: named by the layer and the ONNX node it came from.
    keras = rows[("onnx -> keras", "onnx2keras")]
    assert keras["status"] == "failed" and keras["failed_in"] == "onnx2keras", keras
    assert keras["at"] == "layer LAYER_6 (a Lambda, from operator ReduceSum, node 'node_sum_1')"
    # SOFIE's Keras parser indexes a bias the twin's fixed Dense(1) of ones does not have.
    sofie = rows[("keras -> sofie", "SOFIE keras parser")]
    if sofie["status"] != "ok":
        assert sofie["failed_in"] == "SOFIE keras parser" and sofie["at"] == "layer score (Dense)", sofie
        assert "[at layer score (Dense)]" in sofie["error"]
    else:
        assert sofie["max_abs"] < 1e-4
    for row in matrix["routes"]:
        assert row["status"] != "failed" or ("\n" not in row["error"] and row["at"]), row


@pytest.mark.slow
@pytest.mark.shared
def test_onnx2keras_names_the_operator_it_has_no_converter_for(
    shared_models: Path, tmp_path, monkeypatch
) -> None:
    """DeepJet's LSTM: onnx2keras has no converter for it; before, the line named the Shape
    node onnx2keras stopped at first (part of the LSTM's initial state)."""
    pytest.importorskip("onnx2keras")
    import onnx

    from hepinfer.convert.onnx_keras import onnx_to_keras
    from hepinfer.errors import ConversionError

    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    path = shared_models / "cms/DeepJet_Run3_122X.onnx"
    names = [i.name for i in onnx.load(str(path)).graph.input]
    with pytest.raises(ConversionError) as err:
        onnx_to_keras(path, names)
    line = str(err.value)
    assert line.startswith(
        "onnx2keras cannot convert DeepJet_Run3_122X.onnx at operator LSTM (node '/cpf_lstm/LSTM'"
    )
    assert "has no converter for it" in line and "\n" not in line
    row = conversions._failure_row("onnx2keras", err.value)
    assert row["failed_in"] == "onnx2keras" and row["at"].startswith("operator LSTM (node '/cpf_lstm/LSTM'")


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize(
    ("model", "operator"),
    [
        ("DeepJet_Run3_122X.onnx", "LSTM (node '/cpf_lstm/LSTM')"),
        # onnx2torch's BatchNormalization takes no input of spatial rank -2 (a [N, C] tensor)
        ("ParticleNetAK8_General_V01.onnx", "BatchNormalization (node 'BatchNormalization_79')"),
    ],
)
def test_onnx2torch_names_the_operator_and_node(
    shared_models: Path, tmp_path, monkeypatch, model: str, operator: str
) -> None:
    from hepinfer.convert.onnx_torch import onnx_to_torch
    from hepinfer.errors import ConversionError
    from hepinfer.venvs import missing, side_python

    if side_python("onnx2torch") is None:
        pytest.skip(missing("onnx2torch"))
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConversionError) as err:
        onnx_to_torch(shared_models / "cms" / model)
    assert f"onnx2torch cannot convert {model} at operator {operator}: " in str(err.value)
    row = conversions._failure_row("onnx2torch", err.value)
    assert row["failed_in"] == "onnx2torch" and row["at"] == f"operator {operator}"


@pytest.mark.slow
def test_a_converted_module_that_fails_when_run_names_its_node(tmp_path: Path, monkeypatch) -> None:
    """onnx2torch's module run in its venv on inputs its Gemm cannot take: the line names the
    torch.fx node and its module, and the matrix's row says the torch module failed."""
    import onnx
    from onnx import TensorProto, helper

    from hepinfer.convert.artifact import ModelArtifact
    from hepinfer.convert.onnx_torch import onnx_to_torch
    from hepinfer.venvs import missing, side_python
    from hepinfer.zoo import model_ref, spec_of

    if side_python("onnx2torch") is None:
        pytest.skip(missing("onnx2torch"))
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.5] * 12)
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="dense")], "g", [x], [y], [w])
    path = tmp_path / "gemm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert onnx_to_torch(path).path.exists()
    ref = model_ref(str(path))
    spec = spec_of(ref)
    import numpy as np

    wrong = {"x": np.ones((2, 5), np.float32)}  # 5 features where the Gemm takes 4
    with pytest.raises(conversions.RouteError) as err:
        conversions._onnx_torch(ModelArtifact(ref=ref, spec=spec), spec, wrong, {})
    line = str(err.value)
    assert line.startswith("onnx2torch's module fails when run at node 'dense' (") and "\n" not in line
    row = conversions._failure_row("onnx2torch", err.value)
    assert row["failed_in"] == "torch (onnx2torch's module)" and row["at"].startswith("node 'dense' (")


@pytest.mark.slow
@pytest.mark.shared
def test_every_failed_route_of_a_real_model_names_its_tool_and_operator(
    shared_models: Path, tmp_path: Path, monkeypatch
) -> None:
    """ParticleNet AK8 (kNN inside the model): SOFIE's ONNX parser takes it; onnx2keras has no
    converter for its TopK and friends, onnx2torch refuses a BatchNormalization; the Keras-side
    routes fail in their first step, onnx2keras, and say so rather than blaming SOFIE or tf2onnx."""
    pytest.importorskip("onnx2keras")
    pytest.importorskip("sofie")
    monkeypatch.setenv("HEPINFER_CACHE", str(tmp_path / "cache"))
    path = shared_models / "cms/ParticleNetAK8_General_V01.onnx"
    matrix = hepinfer.conversion_matrix(str(path), dims={"n_pf": 20, "n_sv": 4})
    rows = _rows(matrix)
    sofie = rows[("onnx -> sofie", "SOFIE onnx parser")]
    assert sofie["status"] == "ok" and sofie["max_abs"] < 1e-5, sofie
    for key in (
        ("onnx -> keras", "onnx2keras"),
        ("keras -> sofie", "SOFIE keras parser"),
        ("keras -> onnx", "tf2onnx"),
    ):
        row = rows[key]
        assert row["status"] == "failed" and row["failed_in"] == "onnx2keras", row
        assert row["at"] == "operator Equal (node 'Equal_14')" and "TopK (node 'TopK_34'" in row["error"]
    from hepinfer.venvs import side_python

    if side_python("onnx2torch") is not None:
        row = rows[("onnx -> pytorch", "onnx2torch")]
        assert (
            row["failed_in"] == "onnx2torch"
            and row["at"] == "operator BatchNormalization (node 'BatchNormalization_79')"
        )
