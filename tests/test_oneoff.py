"""Compilation as a one-off entry of its own, and one report row per configuration of
``bench --repeat K`` (the median of the per-process medians, samples never pooled)."""

from __future__ import annotations

import copy
import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hepinfer.report import data, html, markdown
from hepinfer.report.processes import combine
from hepinfer.report.table import bench_table, one_off_table
from hepinfer.results.record import Record

GOLDEN = Path(__file__).parent / "data" / "records" / "v2.jsonl"


def _bench(tmp_path: Path, out: Path, *args: str) -> str:
    """``hepinfer bench`` in a real process (its workers too); the table it printed."""
    env = {**os.environ, "COLUMNS": "300"}
    done = subprocess.run(
        [sys.executable, "-m", "hepinfer", "bench", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_compilation_is_a_one_off_entry_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    printed = _bench(
        tmp_path,
        out,
        "linear_event",
        "--backend",
        "pytorch,openvino",
        "--option",
        "pytorch.mode=eager,compile",
        "--max-time",
        "0.3",
        "--min-time",
        "0.1",
    )
    found = {(r["key"]["backend"], r["key"]["options"].get("mode")): r for r in _records(out)}
    eager, compiled, ov = found[("pytorch", None)], found[("pytorch", "compile")], found[("openvino", None)]
    for r in found.values():
        assert r["status"] == "ok", r.get("error")
        Record.from_dict(r)  # the new field type-checks
    # torch.compile and OpenVINO's compile_model: one_off.compile_s, the backend's own figure.
    assert compiled["one_off"]["compile_s"] > 0
    assert compiled["one_off"]["compile_s"] == compiled["backend"]["settings"]["compile_s"]
    assert ov["one_off"]["compile_s"] > 0
    assert ov["one_off"]["compile_s"] == ov["backend"]["settings"]["compile_s"]
    assert Record.from_dict(compiled).one_off.compile_s == compiled["one_off"]["compile_s"]  # type: ignore[union-attr]
    # Eager compiles nothing: no figure, not 0.
    assert "compile_s" not in eager["one_off"]
    assert Record.from_dict(eager).one_off.compile_s is None  # type: ignore[union-attr]
    # Paid in prepare: not in load nor in the first call (torch.compile's build takes seconds).
    assert compiled["one_off"]["load_s"] < compiled["one_off"]["compile_s"] / 10
    assert compiled["one_off"]["first_call_ns"] / 1e9 < compiled["one_off"]["compile_s"] / 10

    rows = data.load([out])
    cells = {(r["key"]["backend"], r["key"]["options"].get("mode")): data.one_off_cells(r) for r in rows}
    col = data.ONE_OFF_HEADERS.index("compile (worker)")
    assert cells[("pytorch", None)][col] == "—"
    assert cells[("pytorch", "compile")][col] == f"{compiled['one_off']['compile_s']:.3g} s"
    assert cells[("openvino", None)][col] == f"{ov['one_off']['compile_s']:.3g} s"
    page = html.one_off_table(rows)
    assert "compile (worker)" in page and "conversion (parent)" in page
    assert f"<td>{cells[('pytorch', 'compile')][col]}</td>" in page
    md = markdown.render(rows)
    assert "### One-off costs" in md and "| compile (worker) |" in md
    assert cells[("pytorch", "compile")][col] in md
    written = markdown.write_csv(rows, tmp_path / "r.csv")
    by = {(r["backend"], r["options"]): r for r in _csv(written)}
    assert float(by[("pytorch", "mode=compile")]["compile_s"]) == compiled["one_off"]["compile_s"]
    assert float(by[("openvino", "")]["compile_s"]) == ov["one_off"]["compile_s"]
    assert by[("pytorch", "")]["compile_s"] == ""  # not applicable, not 0
    # The console's one-off table, printed by bench.
    assert "compile (worker)" in printed
    assert cells[("pytorch", "compile")][col] in printed


@pytest.mark.slow
def test_repeat_gives_one_row_with_the_median_of_the_process_medians(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    printed = _bench(
        tmp_path,
        out,
        "linear_event",
        "--backend",
        "onnxruntime",
        "--reference",
        "onnxruntime",
        "--repeat",
        "3",
        "--max-time",
        "0.4",
        "--min-time",
        "0.3",
    )
    records = _records(out)
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)
    assert len({r["repeat"]["group"] for r in records}) == 1
    assert sorted(r["repeat"]["index"] for r in records) == [0, 1, 2]
    medians = [r["stats"]["median_ns"] for r in records]
    want = statistics.median(medians)

    rows = data.load([out])
    assert len(rows) == 1
    row = rows[0]
    assert row["stats"]["median_ns"] == want
    assert row["stats"]["ci_low_ns"] == min(medians) and row["stats"]["ci_high_ns"] == max(medians)
    assert row["stats"]["confidence"] == 0.75  # 1 - 2^(1-3): the min-max of 3 medians
    assert row["processes"]["measured"] == 3 and row["processes"]["of"] == 3
    # Tails: the median of the processes' own p99, never a quantile of pooled samples.
    if all(r["stats"]["p99_valid"] for r in records):
        assert row["stats"]["p99_ns"] == statistics.median(r["stats"]["p99_ns"] for r in records)
    else:
        assert row["stats"]["p99_ns"] is None and not row["stats"]["p99_valid"]
    # The records on disk stay one per process, untouched.
    assert _records(out) == records

    written = markdown.write_csv(rows, tmp_path / "r.csv")
    (line,) = _csv(written)
    assert float(line["median_ns"]) == want and line["processes"] == "3"
    assert "3 processes" in html.results_table(rows)
    assert "3 processes" in markdown.render(rows)
    # The console table: one row for the three processes.
    table = bench_table(records)
    assert table.row_count == 1
    assert one_off_table(records).row_count == 1
    assert printed.count("3 processes: median of medians") == 1


def _golden() -> list[dict[str, Any]]:
    return [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]


def test_old_records_render_sofies_build_as_the_conversion_and_no_compile() -> None:
    golden = {(r["kind"], r["key"]["backend"], r["status"]): r for r in _golden()}
    sofie, ov = golden[("bench", "sofie", "ok")], golden[("bench", "openvino", "ok")]
    col = {h: i for i, h in enumerate(data.ONE_OFF_HEADERS)}
    build = sofie["one_off"]["conversion"]["onnx_to_sofie"]
    cells = data.one_off_cells(sofie)
    # SOFIE's code generation and C++ build are the parent's conversion (the record says 0).
    assert sofie["one_off"]["conversion_s"] == 0.0
    assert cells[col["conversion (parent)"]] == f"{build['generate_s'] + build['compile_s']:.3g} s"
    # ... and not a worker compilation, although its settings carry a compile_s.
    assert cells[col["compile (worker)"]] == "—"
    # OpenVINO's compile_model of a record from before one_off.compile_s: from its settings.
    shown = data.one_off_cells(ov)[col["compile (worker)"]]
    assert shown == f"{ov['backend']['settings']['compile_s']:.3g} s"


def test_processes_combine_without_pooling_and_say_what_failed() -> None:
    base = next(r for r in _golden() if r["key"]["backend"] == "onnxruntime" and r["status"] == "ok")
    runs = []
    for i, (median, n) in enumerate(((3000.0, 5000), (1000.0, 800), (2000.0, 5000))):
        r = copy.deepcopy(base)
        r["record_id"] = f"p{i}"
        r["repeat"] = {"group": "g", "index": i, "of": 4}
        valid = n >= 1000
        r["stats"].update(median_ns=median, n=n, p99_valid=valid, p99_ns=10 * median if valid else None)
        r["one_off"]["load_s"] = float(i + 1)
        runs.append(r)
    failed = copy.deepcopy(base)
    failed.update(status="error", stats=None, error={"type": "X", "message": "died", "phase": "load"})
    failed["repeat"] = {"group": "g", "index": 3, "of": 4}
    alone = copy.deepcopy(base)  # another configuration without --repeat passes through
    alone["key"] = {**alone["key"], "batch": 2}
    (row, other) = combine([*runs, failed, alone])
    assert other is alone
    assert row["stats"]["median_ns"] == 2000.0
    assert row["stats"]["per_event_median_ns"] == 2000.0 / base["key"]["batch"]
    assert (row["stats"]["ci_low_ns"], row["stats"]["ci_high_ns"]) == (1000.0, 3000.0)
    # One process has too few samples for a p99: the row has none, and says why.
    assert row["stats"]["p99_ns"] is None and row["stats"]["p99_valid"] is False
    assert "every process" in row["stats"]["tail_note"]
    assert row["one_off"]["load_s"] == 2.0  # the median over the processes
    assert row["processes"] == {
        "of": 4,
        "measured": 3,
        "failed": 1,
        "group": "g",
        "per_event_median_ns": [m / base["key"]["batch"] for m in (3000.0, 1000.0, 2000.0)],
        "indices": [0, 1, 2],
        "memory_from": 2,
    }
    assert "samples_ns" not in row  # one process's samples never stand for the row


def _compiled(record: dict[str, Any]) -> float:
    """The record's one_off.compile_s, checked against the backend's own figure and the type."""
    assert record["status"] == "ok", record.get("error")
    compile_s = record["one_off"]["compile_s"]
    # One session at one shape compiled once: the figure its settings() reports too.
    assert compile_s == record["backend"]["settings"]["compile_s"]
    assert Record.from_dict(record).one_off.compile_s == compile_s  # type: ignore[union-attr]
    return float(compile_s)


@pytest.mark.slow
def test_memory_worker_records_the_compilation() -> None:
    pytest.importorskip("openvino")
    from hepinfer.runner.memory import MemoryRequest, run_memory

    request = MemoryRequest(model="linear_event", backends=("onnxruntime", "openvino"), batches=[4], calls=2)
    ort, ov = run_memory(request)
    assert _compiled(ov) > 0
    assert ort["status"] == "ok" and "compile_s" not in ort["one_off"]  # compiles nothing: no 0


@pytest.mark.slow
def test_eventloop_worker_records_the_first_sessions_compilation() -> None:
    pytest.importorskip("openvino")
    from hepinfer.runner.eventloop import EventLoopRequest, run_eventloop

    request = EventLoopRequest(
        model="linear_event",
        backends=("openvino",),
        threads=(1,),
        modes=("per-thread",),
        events=20,
        pool=4,
        warmup_events=1,
        check_events=0,
    )
    (record,) = run_eventloop(request)
    assert _compiled(record) > 0
    # Paid in the untimed prepare: OpenVINO's compile_model outlasts the cold first call.
    assert record["one_off"]["first_call_ns"] / 1e9 < record["one_off"]["compile_s"]


@pytest.mark.slow
def test_loadgen_worker_records_the_compilation() -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("mlperf_loadgen")
    from hepinfer.runner import loadgen
    from hepinfer.runner.eventloop import EventLoopRequest

    request = loadgen.LoadGenRequest(
        EventLoopRequest(model="linear_event", backends=("openvino",), events=16),
        scenario="SingleStream",
        duration_s=0.2,
        min_queries=50,
        mode="per-thread",
    )
    record = loadgen.run_loadgen(request)
    assert record["kind"] == "loadgen"
    assert _compiled(record) > 0
