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
