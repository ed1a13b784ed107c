"""hepinfer doctor: each finding on a small generated graph, the repairs, the real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

from hepinfer import doctor
from hepinfer.cli.main import main
from hepinfer.doctor import fixes
from hepinfer.errors import ConversionError
from hepinfer.zoo.onnx_file import spec_from_onnx

F = T.FLOAT


def _save(
    tmp: Path, name: str, nodes: list[Any], inputs: list[Any], outputs: list[Any], inits=(), opset=17
) -> Path:
    graph = h.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def _w(name: str, shape: tuple[int, ...], seed: int = 0) -> Any:
    return numpy_helper.from_array(
        np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name
    )


def _gemm(tmp: Path, batch: int | str = "N", weights_as_inputs: bool = False) -> Path:
    inputs = [h.make_tensor_value_info("x", F, [batch, 5])]
    if weights_as_inputs:
        inputs += [h.make_tensor_value_info("W", F, [5, 3]), h.make_tensor_value_info("b", F, [3])]
    return _save(
        tmp,
        f"gemm_{batch}_{int(weights_as_inputs)}",
        [h.make_node("Gemm", ["x", "W", "b"], ["y"], name="fc")],
        inputs,
        [h.make_tensor_value_info("y", F, [batch, 3])],
        [_w("W", (5, 3)), _w("b", (3,), 1)],
    )


def _ort(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, feeds)


def codes(path: Path) -> dict[str, Any]:
    return {f.code: f for f in doctor.examine_file(path, backends=[]).findings}


# --- one generated graph per finding -------------------------------------------------------------


def test_initializers_in_inputs_found_and_removed(tmp_path: Path) -> None:
    path = _gemm(tmp_path, weights_as_inputs=True)
    f = codes(path)["initializers-in-inputs"]
    assert (f.severity, f.evidence["count"], f.evidence["graph_inputs"]) == ("warning", 2, 3)
    assert f.evidence["names"] == ["W", "b"] and f.fix
    out = tmp_path / "fixed.onnx"
    done = fixes.repair(path, out, spec_from_onnx(path), "builtin", ort_level=None)
    assert done.checker is None and done.steps[0]["count"] == 2
    assert [i.name for i in onnx.load(str(out)).graph.input] == ["x"]
    assert "initializers-in-inputs" not in codes(out)
    x = np.ones((2, 5), np.float32)
    np.testing.assert_array_equal(_ort(path, {"x": x})[0], _ort(out, {"x": x})[0])


def test_fixed_batch_that_can_be_made_variable(tmp_path: Path) -> None:
    path = _gemm(tmp_path, batch=4)
    f = codes(path)["fixed-batch"]
    assert f.evidence["batch"] == 4 and f.evidence["variable"] is True and f.fix
    out = tmp_path / "rebatched.onnx"
    done = fixes.repair(path, out, spec_from_onnx(path), "none")
    assert done.rebatched and done.checker is None
    x = np.random.default_rng(0).standard_normal((9, 5)).astype(np.float32)
    (y9,) = _ort(out, {"x": x})
    (y4,) = _ort(path, {"x": x[:4]})
    assert y9.shape == (9, 3)
    np.testing.assert_array_equal(y9[:4], y4)
    assert spec_from_onnx(out).fixed_batch is None


def test_fixed_batch_pinned_by_a_reshape_is_named(tmp_path: Path) -> None:
    """What the legacy exporter writes without dynamic axes: the batch inside a Reshape."""
    shape = numpy_helper.from_array(np.array([2, 3, 2], np.int64), "shape")
    path = _save(
        tmp_path,
        "pinned",
        [h.make_node("Reshape", ["x", "shape"], ["y"], name="attn/Reshape_7")],
        [h.make_tensor_value_info("x", F, [2, 6])],
        [h.make_tensor_value_info("y", F, [2, 3, 2])],
        [shape],
    )
    f = codes(path)["fixed-batch"]
    assert f.severity == "error" and f.evidence["variable"] is False
    assert f.evidence["pinned_by"] == ["attn/Reshape_7 (Reshape to [2, 3, 2])"] and f.fix is None
    with pytest.raises(ConversionError, match="pinned by attn/Reshape_7"):
        fixes.rebatch(onnx.load(str(path)), 2)
    done = fixes.repair(path, tmp_path / "out.onnx", spec_from_onnx(path), "none")
    assert not done.rebatched and "attn/Reshape_7" in done.steps[0]["skipped"]


def _padded_graph(tmp: Path, op: str) -> Path:
    """x [N, P, 2] (zero on padding) and its mask: atan2-as-the-legacy-exporter-writes-it
    (Div then Atan), or log(pt)."""
    x = h.make_tensor_value_info("x", F, ["N", "n_p", 2])
    mask = h.make_tensor_value_info("mask", F, ["N", "n_p"])
    idx0 = numpy_helper.from_array(np.array(0, np.int64), "i0")
    idx1 = numpy_helper.from_array(np.array(1, np.int64), "i1")
    nodes = [
        h.make_node("Gather", ["x", "i0"], ["px"], axis=2, name="get_px"),
        h.make_node("Gather", ["x", "i1"], ["py"], axis=2, name="get_py"),
    ]
    if op == "atan2":
        nodes += [
            h.make_node("Div", ["py", "px"], ["ratio"], name="phi/Div"),
            h.make_node("Atan", ["ratio"], ["f"], name="phi/Atan"),
        ]
    else:
        nodes += [
            h.make_node("Mul", ["px", "px"], ["pt2"], name="pt2"),
            h.make_node("Log", ["pt2"], ["f"], name="ln_pt2"),
        ]
    nodes += [
        h.make_node("Mul", ["f", "mask"], ["masked"], name="apply_mask"),
        h.make_node("ReduceSum", ["masked"], ["y"], keepdims=0, name="sum"),
    ]
    return _save(tmp, f"pad_{op}", nodes, [x, mask], [h.make_tensor_value_info("y", F, [])], [idx0, idx1])


def test_padding_hazards_traced_from_the_mask_axis(tmp_path: Path) -> None:
    f = codes(_padded_graph(tmp_path, "atan2"))["padding-div"]
    assert f.severity == "error" and f.evidence["why"] == "0/0 is NaN"
    assert f.evidence["nodes"] == ["phi/Div"] and f.evidence["atan2"] == ["phi/Div"]
    assert f.evidence["path"] == ["x", "get_py", "phi/Div"]
    assert set(f.evidence["padded_inputs"]) == {"x", "mask"}
    log = codes(_padded_graph(tmp_path, "log"))["padding-log"]
    assert log.evidence["why"] == "log(0) is -Inf" and log.evidence["nodes"] == ["ln_pt2"]


def test_division_by_a_constant_is_no_hazard(tmp_path: Path) -> None:
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    path = _save(
        tmp_path,
        "safe",
        [h.make_node("Div", ["x", "two"], ["y"], name="half")],
        [
            h.make_tensor_value_info("x", F, ["N", "n_p", 2]),
            h.make_tensor_value_info("mask", F, ["N", "n_p"]),
        ],
        [h.make_tensor_value_info("y", F, ["N", "n_p", 2])],
        [two],
    )
    assert not any(c.startswith("padding-") for c in codes(path))


def test_leftovers_float64_unused_and_versions(tmp_path: Path) -> None:
    nodes = [
        h.make_node("Conv", ["x", "W"], ["c"], name="conv"),
        h.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], name="bn"),
        h.make_node("Identity", ["bn"], ["id"], name="id"),
        h.make_node("Dropout", ["id"], ["d"], name="drop"),
        h.make_node("Transpose", ["d"], ["t1"], perm=[0, 2, 1], name="t1"),
        h.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1], name="t2"),
        h.make_node("Cast", ["t2"], ["dbl"], to=T.DOUBLE, name="to_double"),
        h.make_node("Cast", ["dbl"], ["y"], to=T.FLOAT, name="to_float"),
    ]
    inits = [_w("W", (2, 2, 1)), _w("s", (2,)), _w("b", (2,)), _w("m", (2,)), _w("unused_w", (10, 10))]
    var = numpy_helper.from_array(np.ones(2, np.float32), "v")
    path = _save(
        tmp_path,
        "leftovers",
        nodes,
        [h.make_tensor_value_info("x", F, ["N", 2, 7])],
        [h.make_tensor_value_info("y", F, ["N", 2, 7])],
        [*inits, var],
        opset=11,
    )
    found = codes(path)
    assert found["unfused-batchnorm"].evidence["pairs"] == ["conv -> bn"]
    assert found["transpose-cast-chains"].evidence["count"] == 2  # t1->t2, to_double->to_float
    assert found["identity-dropout"].evidence["counts"] == {"Identity": 1, "Dropout": 1}
    assert found["float64"].evidence["node_names"] == ["to_double"]
    assert found["unused-initializers"].evidence == {"count": 1, "bytes": 400, "names": ["unused_w"]}
    v = found["versions"]
    assert (v.severity, v.evidence["opset"], v.evidence["ir_version"]) == ("warning", 11, 8)
    out = tmp_path / "slim.onnx"
    done = fixes.repair(path, out, spec_from_onnx(path), "builtin")
    assert done.steps[-1]["removed"] == {"Identity": 1, "Dropout": 1, "unused_initializers": 1}
    after = codes(out)
    assert "identity-dropout" not in after and "unused-initializers" not in after
    x = np.random.default_rng(0).standard_normal((3, 2, 7)).astype(np.float32)
    np.testing.assert_array_equal(_ort(path, {"x": x})[0], _ort(out, {"x": x})[0])


def test_missing_external_data_is_an_error(tmp_path: Path) -> None:
    path = _gemm(tmp_path)
    model = onnx.load(str(path))
    onnx.save(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="w.bin",
        size_threshold=0,
    )
    assert codes(path)["external-data"].severity == "info"
    (tmp_path / "w.bin").unlink()
    f = codes(path)["external-data"]
    assert f.severity == "error" and f.evidence["missing"] == ["w.bin"]


def test_backends_name_what_they_cannot_run(tmp_path: Path) -> None:
    from hepinfer.backends.base import Backend

    path = _save(
        tmp_path,
        "foreign",
        [h.make_node("FancyOp", ["x"], ["y"], name="fancy")],
        [h.make_tensor_value_info("x", F, ["N", 4])],
        [h.make_tensor_value_info("y", F, ["N", 4])],
    )
    assert Backend.unsupported.__func__(Backend, path) is None  # type: ignore[attr-defined]
    wanted = ["onnxruntime", "openvino", "sofie"]
    answers = doctor.examine_file(path, backends=wanted).backends
    for name in wanted:
        reason = answers[name]
        if isinstance(reason, str):  # not installed here
            assert reason.startswith("unavailable")
        else:
            assert reason == ["FancyOp"], name
    relu = _padded_graph(tmp_path, "atan2")
    assert doctor.examine_file(relu, backends=["onnxruntime"]).backends == {"onnxruntime": []}


def test_health_round_trip_store_and_html_section(tmp_path: Path) -> None:
    """Stored beside a results file, the health shows as the model's section of the page."""
    pytest.importorskip("matplotlib")
    from hepinfer.report import data, html

    health = doctor.examine_file(_gemm(tmp_path, weights_as_inputs=True), backends=["onnxruntime"])
    assert doctor.Health.from_dict(json.loads(json.dumps(health.to_dict()))) == health
    records = data.load([Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"])
    model = records[0]["key"]["model"]
    renamed = doctor.Health(**{**health.__dict__, "model": model})
    results = tmp_path / "res.jsonl"
    stored = doctor.store(renamed, results)
    assert stored == tmp_path / "res.health.json"
    page = html.render(records, sources=[str(results)], figs={})
    section = page[page.index("<h3>model health</h3>") :]
    assert page.index(f'id="{data.safe_id(model)}"') < page.index("<h3>model health</h3>")
    assert "initializers-in-inputs" in section and "2 of the 3 graph inputs" in section
    assert "onnxruntime: runs every operator" in section
    assert "model health" not in html.render(records, sources=[str(tmp_path / "other.jsonl")], figs={})


def test_report_imports_neither_doctor_nor_backends() -> None:
    code = (
        "import sys, hepinfer.report.html, hepinfer.report.health; "
        "above=('hepinfer.doctor','hepinfer.backends','hepinfer.runner'); "
        "bad=[m for m in sys.modules if m.startswith(above)]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_json_and_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _padded_graph(tmp_path, "atan2")
    assert main(["doctor", str(path), "--json", "--backends", "none"]) == 1  # an error-level finding
    report = json.loads(capsys.readouterr().out)
    assert report["health"]["findings"][0]["code"] == "padding-div"
    assert main(["doctor", str(tmp_path / "missing.onnx")]) == 1
    assert "no such model file" in capsys.readouterr().err
    assert main(["doctor", str(path), "--fix", str(path), "--backends", "none"]) == 1
    assert "not over the original" in capsys.readouterr().err
    assert main(["doctor", str(path), "--fix", str(tmp_path / "x.txt"), "--backends", "none"]) == 1
    assert "give the path of the .onnx file" in capsys.readouterr().err
    assert main(["doctor", str(path), "--backends", "nosuch"]) == 1
    assert "unknown backend 'nosuch'" in capsys.readouterr().err


# --- the real files --------------------------------------------------------------------------------


@pytest.mark.shared
def test_deepak8_initializers_in_inputs(shared_models: Path) -> None:
    health = doctor.examine_file(shared_models / "cms" / "DeepAK8_V02_full.onnx", backends=["onnxruntime"])
    f = health.by_code("initializers-in-inputs")[0]
    assert (f.evidence["count"], f.evidence["graph_inputs"]) == (127, 129)
    assert health.by_code("identity-dropout")[0].evidence["counts"] == {"Dropout": 1}
    assert health.backends == {"onnxruntime": []} and health.opset == 11


@pytest.mark.shared
def test_rootbench_fixed_batches_can_be_made_variable(shared_models: Path) -> None:
    files = [
        *sorted((shared_models / "rootbench").glob("*_B1.onnx")),
        shared_models / "rootbench" / "Linear_16.onnx",
    ]
    seen = {}
    for path in files:
        found = doctor.examine_file(path, backends=[]).by_code("fixed-batch")
        if path.name == "DDB_B1.onnx":  # its batch axis is the symbol '1': already variable
            assert found == []
            continue
        (f,) = found
        seen[path.name] = (f.evidence["batch"], f.evidence["variable"])
    assert seen["Linear_16.onnx"] == (16, True)
    assert seen["Conv_d100_L1_B1.onnx"] == (1, True) and seen["GRU_d10_L20_h8_B1.onnx"] == (1, True)
    assert len(seen) == len(files) - 1


@pytest.mark.slow
@pytest.mark.shared
def test_deepak8_fix_benched_side_by_side(
    shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ak8.onnx"
    code = main(
        ["doctor", str(shared_models / "cms" / "DeepAK8_V02_full.onnx"), "--fix", str(out),
         "--backends", "none", "--max-time", "1", "--json", str(tmp_path / "r.json")]
    )  # fmt: skip
    assert code == 0
    fix = json.loads((tmp_path / "r.json").read_text())["fix"]
    assert fix["checker"] is None and "initializers-in-inputs" not in fix["findings_after"]
    assert len(onnx.load(str(out)).graph.input) == 2
    bench = fix["bench"]
    assert bench["runs"]["original"]["status"] == bench["runs"]["fixed"]["status"] == "ok"
    assert bench["agreement"]["verdict"] in ("identical", "equal, not bitwise", "within tolerance")
    assert bench["agreement"]["max_abs"] < 1e-5
    assert bench["ratios"]["median_ns"] > 0
    assert "fixed / original: median" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.shared
def test_linear16_rebatched_agrees_across_batches(shared_models: Path, tmp_path: Path) -> None:
    from hepinfer.doctor.verify import side_by_side
    from hepinfer.measure.timer import TimingPolicy

    src = shared_models / "rootbench" / "Linear_16.onnx"
    out = tmp_path / "l.onnx"
    assert fixes.repair(src, out, spec_from_onnx(src), "builtin").rebatched
    found = side_by_side(src, out, policy=TimingPolicy(max_time_s=0.5))
    assert found["batch"] == 16 and set(found["runs"]) == {"original", "fixed", "fixed at batch 33"}
    assert found["runs"]["fixed at batch 33"]["status"] == "ok"
    assert found["agreement"]["events"] == 48 and found["agreement"]["max_abs"] <= 1e-6
