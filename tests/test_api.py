"""The Python API the demo, the seed studies and notebooks call instead of the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hepinfer
from hepinfer.errors import ConfigurationError, ResultsError

FIXTURE = Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"

CONFIG = """\
name: api
models: [linear_event]
backends: [onnxruntime, pytorch]
batches: [1, 4]
threads: [1]
timing: {max_time_s: 0.2, min_calls: 5, warmup_calls: 2, warmup_s: 0.0}
"""


def test_write_report_writes_what_is_asked(tmp_path: Path) -> None:
    pytest.importorskip("mplhep")
    page, table = tmp_path / "r.html", tmp_path / "r.csv"
    written = hepinfer.write_report(FIXTURE, html=page, csv=table)
    assert written.paths == [page, table] and written.configurations == 12
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert len(table.read_text().splitlines()) == 1 + 12
    with pytest.raises(ConfigurationError, match="nothing to write"):
        hepinfer.write_report(FIXTURE)


def test_model_cost_and_zoo_models() -> None:
    cost = hepinfer.model_cost("linear_event", batch=2)
    assert cost["model"] == "linear_event" and cost["macs"] == 2 * 25_500
    models = {m["model"]: m for m in hepinfer.zoo_models(count=False)}
    assert models["event_vae"]["options"] == {"R": 32} and models["linear_event"]["params"] is None
    with pytest.raises(ConfigurationError, match="batch size 0"):
        hepinfer.model_cost("linear_event", batch=0)


@pytest.mark.slow
def test_sweep_then_report(tmp_path: Path) -> None:
    pytest.importorskip("mplhep")
    config = tmp_path / "api.yaml"
    config.write_text(CONFIG)
    seen: list[str] = []
    records = hepinfer.sweep(config, on_record=lambda r: seen.append(r["record_id"]))
    out = tmp_path / "api.jsonl"  # the config's path with .jsonl: the default
    on_disk = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["record_id"] for r in records] == seen == [r["record_id"] for r in on_disk]
    assert sorted((r["key"]["backend"], r["key"]["batch"]) for r in records) == [
        ("onnxruntime", 1), ("onnxruntime", 4), ("pytorch", 1), ("pytorch", 4),
    ]  # fmt: skip
    assert all(r["status"] == "ok" and r["sweep"]["name"] == "api" for r in records)
    # again without resume is refused; with it, nothing is left to run
    with pytest.raises(ResultsError, match="--resume"):
        hepinfer.sweep(config)
    assert hepinfer.sweep(config, resume=True) == []
    written = hepinfer.write_report(out, html=tmp_path / "api.html", plots=tmp_path / "plots")
    assert written.configurations == 4
    # one thread count: no throughput-vs-threads plot; two batch sizes: the others
    names = sorted(p.name for p in written.paths if p.suffix == ".png")
    assert names == ["linear_event_latency.png", "linear_event_memory.png", "linear_event_speedup.png"]
