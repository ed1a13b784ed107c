"""Every real model in ../shared/models runs on ONNX Runtime through hepinfer's own path."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FAST_TIMING, SHARED_MODELS
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run_bench

pytestmark = pytest.mark.slow

FILES = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.glob("*/*.onnx"))
# The production sizes of the dynamic particle axes (ParticleNet: up to 100 PF, 10 SV).
DIMS = {"n_pf": 100, "n_sv": 10}


@pytest.mark.parametrize("name", FILES or ["(none)"])
def test_every_real_file_runs_on_onnxruntime(name: str, shared_models: Path) -> None:
    path = shared_models / name
    dims = DIMS if "ParticleNet" in name else {}
    (record,) = run_bench(
        BenchRequest(model=str(path), backends=["onnxruntime"], dims=dims, policy=TimingPolicy(**FAST_TIMING))
    )
    assert record["status"] == "ok", record["error"]
    assert record["agreement"]["verdict"] == "reference"
    # At least one timed call; a slow model stops at the time cap, even before min_calls.
    assert record["stats"]["n"] >= 1 and record["stats"]["median_ns"] > 0
    if record["stats"]["n"] < FAST_TIMING["min_calls"]:
        assert record["timing"]["stop_reason"] == "max_time"
    assert all(all(d > 0 for d in shape) for shape in record["model"]["output_shapes"].values())
    cost = record["model"]["cost"]
    assert cost["params"] > 0 and cost["macs_per_event"] > 0
