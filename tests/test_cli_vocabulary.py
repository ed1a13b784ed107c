"""One command line: shared option names, no prefix matching, lists, honest outputs
(parameter labels, a client without its server, a report of a model that never ran,
progress lines off a terminal), and ``bench --repeat`` records."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hepinfer.cli.main import main, parser
from hepinfer.report import data, markdown

FIXTURE = Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"


def test_no_prefix_matching(capsys: pytest.CaptureFixture[str]) -> None:
    # Before: ``validate --batch 1`` was taken as --batch-sizes 1 by argparse's prefix matching.
    with pytest.raises(SystemExit):
        parser().parse_args(["validate", "linear_event", "--batch-s", "16"])
    with pytest.raises(SystemExit):
        parser().parse_args(["bench", "linear_event", "--max", "3"])
    capsys.readouterr()


def test_validate_batch_is_the_shared_name(capsys: pytest.CaptureFixture[str]) -> None:
    from hepinfer.cli.validate import request_from

    ns = parser().parse_args(["validate", "linear_event", "--batch", "8,32"])
    assert tuple(request_from(ns).batch_sizes) == (8, 32)
    old = parser().parse_args(["validate", "linear_event", "--batch-sizes", "8"])
    assert tuple(request_from(old).batch_sizes) == (8,)
    assert main(["validate", "linear_event", "--batch", "1"]) == 1
    assert "--batch 1: the batch check compares an event alone" in capsys.readouterr().err


def test_validate_threads_default_to_the_cores_present() -> None:
    from hepinfer.cli.validate import request_from

    request = request_from(parser().parse_args(["validate", "linear_event"]))
    assert tuple(request.threads) == (max(2, len(os.sched_getaffinity(0))),)
    given = request_from(parser().parse_args(["validate", "linear_event", "--threads", "2,3"]))
    assert tuple(given.threads) == (2, 3)


def test_memory_and_loadgen_take_lists() -> None:
    from hepinfer.cli import loadgen, memory

    ns = parser().parse_args(["memory", "linear_event", "--threads", "1,2", "--batch", "1"])
    assert [r.threads for r in memory.requests_from(ns)] == [1, 2]
    argv = ["loadgen", "linear_event", "--scenario", "SingleStream,Offline", "--threads", "1,2"]
    ns = parser().parse_args([*argv, "--min-time", "3"])
    runs = [(r.scenario, r.threads, r.duration_s) for r in loadgen.requests_from(ns)]
    assert runs == [(s, t, 3.0) for s in ("SingleStream", "Offline") for t in (1, 2)]
    bad = parser().parse_args(["loadgen", "linear_event", "--scenario", "SingleStream,Batch"])
    with pytest.raises(Exception, match="--scenario Batch: choose from SingleStream, Offline, Server"):
        loadgen.requests_from(bad)


def test_parameter_counts_say_which_count_they_are() -> None:
    # Before: "params" in the list and "parameters" in the model view, two different counts.
    from rich.console import Console

    from hepinfer.report.zoo import EXPORT, TRAINABLE, model_view, zoo_table

    row = {
        "model": "event_vae",
        "family": "vae",
        "params": 15966,
        "target_params": None,
        "target_kind": "trainable",
        "options": {},
        "inputs": ["x[B,10] float32"],
        "summary": "s",
        "weight_bytes": 61460,
        "macs_per_event": 15000,
        "export_elements": 15365,
    }
    console = Console(width=400, record=True)
    console.print(zoo_table([row]))
    text = console.export_text()
    assert TRAINABLE in text and EXPORT in text and "15,966" in text and "15,365" in text
    cost = {
        "model": "event_vae",
        "inputs": [],
        "outputs": [],
        "dims": {},
        "params": 15365,
        "trainable_params": 15966,
        "weight_bytes": 61460,
        "macs_per_event": 15000.0,
        "batch": 1,
        "macs": 15000,
        "macs_by_op": {},
        "uncounted": [],
    }
    lines = [x for x in model_view(cost) if isinstance(x, str)]
    assert f"  {TRAINABLE} 15,966" in lines and any(x.startswith(f"  {EXPORT} 15,365") for x in lines)


def test_env_says_a_client_has_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: triton "available" with no server anywhere. A port nothing listens on, then a
    # real listener on 127.0.0.1.
    pytest.importorskip("tritonclient")
    import dataclasses

    import hepinfer
    from hepinfer.backends.triton import TritonBackend

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    options = dataclasses.make_dataclass(
        "Opts", [("server", str, dataclasses.field(default=f"grpc://127.0.0.1:{free}"))]
    )
    monkeypatch.setattr(TritonBackend, "Options", options)
    status = hepinfer.env()["backends"]["triton"]
    assert status["status"] == "client only"
    assert status["reason"] == f"client installed; no server at grpc://127.0.0.1:{free}"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        listening = dataclasses.make_dataclass(
            "Opts", [("server", str, dataclasses.field(default=f"grpc://127.0.0.1:{port}"))]
        )
        monkeypatch.setattr(TritonBackend, "Options", listening)
        assert hepinfer.env()["backends"]["triton"]["status"] == "available"


def test_markdown_says_none_succeeded_with_each_phase() -> None:
    # Before: "none agrees with the reference" for a model none of whose configurations ran.
    records = copy.deepcopy(data.load([FIXTURE]))
    for r in records:
        if r["key"]["model"] == "linear_event":
            r["status"] = "error"
            r["stats"] = {}
            r["error"] = {"type": "WorkerCrash", "message": "killed by SIGSEGV", "phase": "load"}
    text = markdown.render(records)
    section = text.split("## linear_event")[1].split("## ")[0]
    assert "none of the 4 configurations succeeded" in section
    assert "none agrees" not in section
    assert "error in load: killed by SIGSEGV" in section


def test_progress_lines_when_stderr_is_not_a_terminal() -> None:
    # Before: nothing on stderr for a whole sweep when it was not a terminal.
    code = (
        "from hepinfer.cli.progress import steps\n"
        "with steps(2) as p:\n"
        "    p.start('a', 0, 2); p.finish('ok, 6 us per call')\n"
        "    p.start('b', 1, 2); p.finish('failed in load: x')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("[1/2] a: ok, 6 us per call (")
    assert lines[1].startswith("[2/2] b: failed in load")


def test_repeat_section_round_trips() -> None:
    from hepinfer.results.record import Record

    raw = json.loads(FIXTURE.read_text().splitlines()[0])
    raw["repeat"] = {"group": "abc", "index": 1, "of": 3}
    record = Record.from_dict(raw)
    assert record.repeat is not None and (record.repeat.group, record.repeat.index, record.repeat.of) == (
        "abc",
        1,
        3,
    )
    assert record.to_dict()["repeat"] == raw["repeat"]
    del raw["repeat"]
    assert "repeat" not in Record.from_dict(raw).to_dict()
    raw["repeat"] = {"group": "abc", "index": "1"}
    with pytest.raises(Exception, match=r"repeat\.index is str"):
        Record.from_dict(raw)


@pytest.mark.slow
def test_bench_repeat_runs_separate_processes(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    args = ["bench", "linear_event", "--backend", "onnxruntime", "--repeat", "3"]
    args += ["--max-time", "0.3", "--min-time", "0.1", "--min-calls", "5", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "hepinfer.cli.main", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    records: list[dict[str, Any]] = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)
    assert [r["repeat"]["index"] for r in records] == [0, 1, 2]
    assert len({r["repeat"]["group"] for r in records}) == 1 and {r["repeat"]["of"] for r in records} == {3}
    # Three worker processes, not one: each record its own process's measurement.
    assert len({r["record_id"] for r in records}) == 3
    assert "[1/3] linear_event onnxruntime batch 1 threads 1: ok" in proc.stderr
    from hepinfer.report.compare import compare_files

    same = compare_files(out, out)
    assert same.rows[0]["n_a"] == 3 and same.rows[0]["ratio"] == pytest.approx(1.0)
    assert same.rows[0]["verdict"] == "not significant"


def test_validate_row_without_comparisons_does_not_read_like_a_pass() -> None:
    # Before: "unknown 0 0 0/0 100%" for a backend none of whose outputs was compared.
    from rich.console import Console

    from hepinfer.report.validate import validate_tables

    report = {
        "model": "m",
        "reference": "onnxruntime",
        "precision": "fp32",
        "tolerance": {"rtol": 1e-4, "atol": 1e-5},
        "backends": [{"backend": "openvino", "verdict": "unknown", "sets": {}}],
    }
    console = Console(width=300, record=True)
    for table in validate_tables(report):
        console.print(table)
    text = console.export_text()
    row = next(line for line in text.splitlines() if "openvino" in line)
    assert "not run" in row and "100%" not in row and "0/0" not in row
