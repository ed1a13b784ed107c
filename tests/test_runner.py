"""The runner end to end: real workers, records, agreement, and workers that fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

from conftest import FAST_TIMING
from hepinfer.errors import ResultsError
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results import jsonl
from hepinfer.results.schema import SCHEMA_VERSION
from hepinfer.runner.bench import BenchRequest, plan, run_bench

pytestmark = pytest.mark.slow


def _request(model: str = "linear_event", **kw: Any) -> BenchRequest:
    return BenchRequest(model=model, policy=TimingPolicy(**FAST_TIMING), **kw)


def test_zoo_model_on_both_backends(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    request = _request(batches=[1, 3], options={"onnxruntime": {"iobinding": ["false", "true"]}})
    records = run_bench(request, out=out)
    assert [(r["key"]["backend"], r["key"]["batch"], r["key"]["options"]) for r in records] == [
        ("pytorch", 1, {}),
        ("onnxruntime", 1, {}),
        ("onnxruntime", 1, {"iobinding": True}),
        ("pytorch", 3, {}),
        ("onnxruntime", 3, {}),
        ("onnxruntime", 3, {"iobinding": True}),
    ]
    assert all(r["status"] == "ok" for r in records)
    for r in records:
        assert r["schema_version"] == SCHEMA_VERSION
        assert len(r["samples_ns"]) == r["stats"]["n"] >= 5
        per_event = r["stats"]["median_ns"] / r["key"]["batch"]
        assert r["stats"]["per_event_median_ns"] == pytest.approx(per_event)
        env = r["environment"]
        assert env["cpu"]["logical_cores"] >= 1 and "numpy" in env["versions"]
        assert r["one_off"]["load_s"] > 0 and r["one_off"]["first_call_ns"] > 0
        assert r["model"]["output_shapes"] == {"output": [r["key"]["batch"], 10]}
    # PyTorch is the reference for a zoo model; ONNX Runtime agrees within fp32 tolerance.
    assert records[0]["agreement"]["verdict"] == "reference"
    for r in records[1:3]:
        assert r["agreement"]["verdict"] in ("identical", "within tolerance")
        assert r["agreement"]["outputs"]["output"]["max_abs"] < 1e-4
    assert records[2]["backend"]["settings"]["intra_op_num_threads"] == 1
    # The file holds exactly these records, each whole.
    assert [r["record_id"] for r in jsonl.read(out)] == [r["record_id"] for r in records]


def test_wrong_outputs_are_flagged(test_backends: str) -> None:
    request = _request(backends=["onnxruntime", f"{test_backends}:WrongOutputs"], reference="onnxruntime")
    ok, wrong = run_bench(request)
    assert ok["agreement"]["verdict"] == "reference"
    assert wrong["status"] == "ok"
    agreement = wrong["agreement"]
    assert agreement["verdict"] == "different"
    out = agreement["outputs"]["output"]
    assert out["max_abs"] == pytest.approx(1e-3, rel=1e-2)
    assert out["fraction_within"] < 0.5


def test_a_crashing_worker_costs_one_configuration(tmp_path: Path, test_backends: str) -> None:
    out = tmp_path / "r.jsonl"
    jsonl.append(out, {"schema_version": SCHEMA_VERSION, "record_id": "earlier"})
    request = _request(backends=[f"{test_backends}:AbortInRun", "onnxruntime"], reference="onnxruntime")
    records = run_bench(request, out=out)
    by_backend = {r["key"]["backend"]: r for r in records}
    crashed = by_backend[f"{test_backends}:AbortInRun"]
    assert crashed["status"] == "error"
    assert crashed["error"]["type"] == "WorkerDied"
    assert "SIGABRT" in crashed["error"]["message"]
    assert crashed["error"]["phase"] == "first_call"
    assert by_backend["onnxruntime"]["status"] == "ok"
    # The earlier record is untouched; both new ones follow it.
    assert next(r["record_id"] for r in jsonl.read(out)) == "earlier"
    assert len(list(jsonl.read(out))) == 3


def test_a_hanging_worker_is_killed_at_the_timeout(test_backends: str) -> None:
    request = _request(backends=[f"{test_backends}:HangInLoad"], reference="onnxruntime", timeout_s=8)
    (record,) = run_bench(request)
    assert record["status"] == "error"
    assert "timed out after 8 s during load" in record["error"]["message"]


def test_an_input_the_backend_rejects_is_an_error_record(tmp_path: Path) -> None:
    # Reshape to [-1, 4]: 3 elements per event cannot be; ONNX Runtime says so at run time.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 4])
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g", [x], [y], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "reshape.onnx"
    onnx.save(model, str(path))
    (record,) = run_bench(_request(model=str(path), backends=["onnxruntime"], dims={"n": 3}))
    assert record["status"] == "error"
    assert record["error"]["phase"] == "first_call"
    assert record["error"]["message"].startswith("onnxruntime rejected the inputs x[1, 3]")


def test_foreign_onnx_on_pytorch_says_why_not(shared_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the onnx2torch venv (with it: tests/test_formats.py runs the file there).
    monkeypatch.setenv("HEPINFER_ONNX2TORCH_VENV", "/nonexistent")
    monkeypatch.setattr("sys.prefix", "/nonexistent")
    path = shared_models / "rootbench" / "Linear_event.onnx"
    records = run_bench(_request(model=str(path)))
    by_backend = {r["key"]["backend"]: r for r in records}
    assert by_backend["onnxruntime"]["status"] == "ok"
    assert by_backend["onnxruntime"]["agreement"]["verdict"] == "reference"
    err = by_backend["pytorch"]["error"]
    assert err["type"] == "BackendUnavailable" and "onnx2torch" in err["message"]


def test_reference_outside_the_plan_is_run_for_agreement() -> None:
    (record,) = run_bench(_request(backends=["onnxruntime"], batches=[2]))
    assert record["agreement"]["reference"] == {"backend": "pytorch", "threads": 1}
    assert record["agreement"]["verdict"] in ("identical", "within tolerance")


def test_plan_orders_reference_first() -> None:
    p = plan(_request(backends=["onnxruntime", "pytorch"], batches=[4, 1], threads=[2, 1]))
    assert [(k.batch, k.backend, k.threads) for k in p.keys][:2] == [(4, "pytorch", 1), (4, "onnxruntime", 2)]
    assert len(p.keys) == 8


def test_torn_last_line_is_skipped_and_appends_start_on_a_new_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    good = {"schema_version": SCHEMA_VERSION, "record_id": "a"}
    jsonl.append(out, good)
    with out.open("ab") as f:
        f.write(b'{"schema_version": 1, "record_id": "tor')  # a writer killed mid-line
    assert [r["record_id"] for r in jsonl.read(out)] == ["a"]
    jsonl.append(out, {**good, "record_id": "b"})
    assert [r["record_id"] for r in jsonl.read(out)] == ["a", "b"]
    assert json.loads(out.read_text().splitlines()[-1])["record_id"] == "b"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    jsonl.append(out, {"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ResultsError, match="upgrade hepinfer"):
        list(jsonl.read(out))


def test_both_exporters_agree_with_pytorch() -> None:
    for exporter in ("legacy", "dynamo"):
        records = run_bench(_request(model="event_vae", batches=[3], exporter=exporter))
        ort = next(r for r in records if r["key"]["backend"] == "onnxruntime")
        assert ort["key"]["exporter"] == exporter
        conversion = ort["one_off"]["conversion"]["torch_to_onnx"]
        assert conversion["exporter"] == exporter and conversion["path"].endswith(".onnx")
        assert ort["agreement"]["verdict"] in ("identical", "within tolerance"), ort["agreement"]


def test_one_bench_command_plans_and_reads_the_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hepinfer bench``: the CLI plans (to fail before the progress bar) and run_bench() reuses it."""
    from hepinfer.cli.main import main
    from hepinfer.runner import bench

    calls = {"plan": 0, "spec_of": 0}

    def counted(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            calls[name] += 1
            return real(*args, **kw)

        return wrapper

    monkeypatch.setattr(bench, "plan", counted("plan", bench.plan))
    monkeypatch.setattr(bench, "spec_of", counted("spec_of", bench.spec_of))
    out = tmp_path / "r.jsonl"
    argv = ["bench", "linear_event", "--backend", "onnxruntime", "--reference", "onnxruntime"]
    argv += ["--max-time", "0.2", "--min-calls", "5", "--out", str(out)]
    assert main(argv) == 0
    assert calls == {"plan": 1, "spec_of": 1}
    (record,) = jsonl.read(out)
    # The plan's reference travels in the record; the report reads it from there.
    assert record["model"]["reference_key"] == record["key"]
    assert record["agreement"]["verdict"] == "reference"


def test_reference_key_is_the_plans_at_each_batch() -> None:
    p = plan(_request(backends=["onnxruntime"], batches=[2, 4], threads=[2]))
    assert [
        (p.reference_of(k).backend, p.reference_of(k).batch, p.reference_of(k).threads) for k in p.keys
    ] == [
        ("pytorch", 2, 1),
        ("pytorch", 4, 1),
    ]
    part = p.at_batch(4)
    assert [k.batch for k in part.keys] == [4] and list(part.request.batches or []) == [4]


def test_options_stay_typed_from_key_to_backend() -> None:
    """A key's typed option values reach the backend's Options as they are; bad ones are refused."""
    from hepinfer.backends.onnxruntime import OnnxRuntimeOptions
    from hepinfer.errors import ConfigurationError

    typed = OnnxRuntimeOptions.from_values(
        "onnxruntime", {"iobinding": True, "inter_op_threads": 2, "optimization": "basic"}, threads=3
    )
    assert typed == OnnxRuntimeOptions(threads=3, iobinding=True, inter_op_threads=2, optimization="basic")
    assert OnnxRuntimeOptions.from_values("onnxruntime", {"iobinding": "true"}) == OnnxRuntimeOptions(
        iobinding=True
    )
    for bad in ({"iobinding": 1}, {"inter_op_threads": True}, {"optimization": "most"}, {"nope": 1}):
        with pytest.raises(ConfigurationError, match="onnxruntime"):
            OnnxRuntimeOptions.from_values("onnxruntime", bad)
