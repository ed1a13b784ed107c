"""Pipe-friendly output: ``--json`` of each command is JSON and nothing else on stdout, and a
table printed into a pipe keeps every name whole. Each command runs in a real process with
stdout a pipe, as ``hepinfer ... | jq`` or ``hepinfer zoo | cat`` would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FAST_TIMING

FAST_BENCH = [
    "--max-time", str(FAST_TIMING["max_time_s"]), "--min-calls", str(FAST_TIMING["min_calls"]),
]  # fmt: skip


def _hepinfer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # as a shell pipe has it
    return subprocess.run(
        [sys.executable, "-m", "hepinfer", *args],
        capture_output=True,  # stdout a pipe, as in a shell pipeline
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines, "nothing on stdout"
    return [json.loads(line) for line in lines]


def _on_disk(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_zoo_in_a_pipe_keeps_every_name_whole(tmp_path: Path) -> None:
    from hepinfer.zoo import ENTRIES

    proc = _hepinfer("zoo", "--no-count", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cells = {c.strip() for line in proc.stdout.splitlines() for c in line.split("│")}
    missing = [name for name in ENTRIES if name not in cells]
    assert not missing, f"names cut or wrapped in a pipe: {missing}"
    assert "…" not in proc.stdout
    for e in ENTRIES.values():
        assert e.summary in proc.stdout  # whole, on one line


def test_env_and_zoo_json(tmp_path: Path) -> None:
    from hepinfer.zoo import ENTRIES

    env = _hepinfer("env", "--json", cwd=tmp_path)
    assert env.returncode == 0, env.stderr
    info = json.loads(env.stdout)
    assert info["backends"]["onnxruntime"]["status"] == "available"
    assert info["environment"]["cpu"]["logical_cores"] >= 1

    zoo = _hepinfer("zoo", "--no-count", "--json", cwd=tmp_path)
    assert zoo.returncode == 0, zoo.stderr
    models = json.loads(zoo.stdout)
    assert [m["model"] for m in models] == list(ENTRIES)
    linear = models[0]
    assert linear["target_params"] == 25_960 and linear["params"] is None
    assert linear["inputs"] == ["input[batch, 100] float32"]

    one = _hepinfer("zoo", "linear_event", "--batch", "4", "--json", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    cost = json.loads(one.stdout)
    # 100*50 + 8*50*50 + 50*10 multiply-accumulates per event; weights and biases as parameters
    assert cost["macs_per_event"] == 25_500 and cost["macs"] == 4 * 25_500 and cost["batch"] == 4
    assert cost["params"] == 25_960 and cost["macs_by_op"] == {"Gemm": 4 * 25_500}
    assert cost["outputs"] == ["output[batch, 10] float32"]


def test_zoo_json_counts_parameters(tmp_path: Path) -> None:
    proc = _hepinfer("zoo", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    counted = {m["model"]: m["params"] for m in json.loads(proc.stdout)}
    assert counted["linear_event"] == 25_960 and counted["higgs_model_dense"] == 41_402


@pytest.mark.slow
def test_bench_json_is_the_records(tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    args = ["--backend", "onnxruntime,pytorch", "--batch", "1,4", *FAST_BENCH, "--out", str(out)]
    proc = _hepinfer("bench", "linear_event", *args, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = _json_lines(proc.stdout)
    assert records == _on_disk(out)
    assert sorted((r["key"]["backend"], r["key"]["batch"]) for r in records) == [
        ("onnxruntime", 1), ("onnxruntime", 4), ("pytorch", 1), ("pytorch", 4),
    ]  # fmt: skip
    assert all(r["status"] == "ok" and r["stats"]["per_event_median_ns"] > 0 for r in records)
    assert "4 records appended" in proc.stderr


@pytest.mark.slow
def test_memory_json_is_the_records(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    args = ["--batch", "1,8", "--calls", "2", "--out", str(out), "--json"]
    proc = _hepinfer("memory", "linear_event", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = _json_lines(proc.stdout)
    assert records == _on_disk(out)
    assert [r["key"]["batch"] for r in records] == [1, 8]
    assert all(r["memory"]["measured_bytes"] > 0 for r in records)


@pytest.mark.slow
def test_eventloop_json_is_the_records(tmp_path: Path) -> None:
    out = tmp_path / "e.jsonl"
    args = ["--threads", "1,2", "--mode", "shared", "--events", "40", "--pool", "8", "--out", str(out)]
    proc = _hepinfer("eventloop", "linear_event", *args, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = _json_lines(proc.stdout)
    assert records == _on_disk(out)
    assert [r["key"]["threads"] for r in records] == [1, 2]
    assert all(r["stats"]["events_per_s"] > 0 for r in records)


@pytest.mark.slow
def test_loadgen_json_is_the_record(tmp_path: Path) -> None:
    out = tmp_path / "l.jsonl"
    args = ["--duration", "0.3", "--min-queries", "100", "--pool", "16", "--out", str(out), "--json"]
    proc = _hepinfer("loadgen", "linear_event", *args, cwd=tmp_path)
    assert proc.returncode in (0, 2), proc.stderr  # 2: LoadGen judged the run INVALID
    (record,) = _json_lines(proc.stdout)
    assert [record] == _on_disk(out)
    assert record["kind"] == "loadgen" and record["key"]["scenario"] == "SingleStream"
    assert proc.returncode == (0 if record["stats"]["valid"] else 2)


@pytest.mark.slow
def test_validate_json_is_the_report(tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    args = ["--backend", "onnxruntime", "--checks", "agreement,repeat", "--out", str(out), "--json"]
    proc = _hepinfer("validate", "linear_event", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (record,) = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert record["kind"] == "validate" and report == record["validate"]  # --out appends a record
    assert report["reference"] == "pytorch"
    ort = next(b for b in report["backends"] if b["backend"] == "onnxruntime")
    assert ort["verdict"] in ("identical", "equal values, not bitwise", "within tolerance")
