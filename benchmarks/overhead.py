"""Harness overhead: the median hepinfer reports vs a bare perf_counter loop (target <= 1.05).

linear_event at batch 1 on onnxruntime with I/O binding, one thread. Both loops time the same
session call in this process, interleaved in rounds so that machine noise hits both alike;
then the median of a full ``hepinfer.bench`` run (fresh worker process) is shown beside them,
and the sweep overhead per configuration: wall time minus timed time (target < 0.5 s).

    python benchmarks/overhead.py [--rounds 7] [--calls 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import hepinfer
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeOptions
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.measure.timer import TimingPolicy, time_calls, warm_up
from hepinfer.zoo import build_inputs, model_ref, spec_of

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


def bare_loop(session_call: object, binding: object, calls: int) -> float:
    """Median of a perf_counter_ns loop over session.run_with_iobinding, nothing else."""
    pc = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        t0 = pc()
        session_call(binding)  # type: ignore[operator]
        t1 = pc()
        samples.append(t1 - t0)
    return statistics.median(samples)


def main() -> None:
    """Print the medians and their ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=20000)
    args = p.parse_args()

    ref = model_ref("linear_event")
    spec = spec_of(ref)
    backend = OnnxRuntimeBackend()
    backend.load(ModelArtifact(ref=ref, spec=spec), OnnxRuntimeOptions(threads=1, iobinding=True))
    prepared = backend.prepare(build_inputs(ref, spec, 1, {}, seed=0))
    policy = TimingPolicy(
        min_calls=args.calls, max_calls=args.calls, max_time_s=600, rel_ci=1e-9, min_time_s=0
    )
    warm_up(backend.run, prepared, policy, None)

    harness, bare = [], []
    for _ in range(args.rounds):
        samples, _ = time_calls(backend.run, prepared, policy)
        harness.append(statistics.median(samples))
        bare.append(bare_loop(backend.session.run_with_iobinding, prepared.binding, args.calls))
    h, b = statistics.median(harness), statistics.median(bare)
    print(f"bare perf_counter loop   median {b:8.0f} ns  (per round: {', '.join(f'{x:.0f}' for x in bare)})")
    print(
        f"hepinfer timing loop     median {h:8.0f} ns  (per round: {', '.join(f'{x:.0f}' for x in harness)})"
    )
    print(f"ratio hepinfer / bare    {h / b:.3f}   (target <= 1.05)")

    (record,) = hepinfer.bench(
        "linear_event",
        backends=["onnxruntime"],
        options={"onnxruntime": {"iobinding": ["true"]}},
        max_time_s=5,
    )
    worker = record["stats"]["median_ns"]
    print(f"hepinfer.bench (worker)  median {worker:8.0f} ns  ratio to bare {worker / b:.3f} (other process)")
    for label, model in (("zoo", "linear_event"), ("file", str(_SHARED / "rootbench" / "Linear_event.onnx"))):
        if label == "file" and not _SHARED.is_dir():
            print(f"sweep overhead per configuration ({label}): skipped, {_SHARED} is absent")
            continue
        per_config = sweep_overhead(model)
        print(f"sweep overhead per configuration ({label}): {per_config:.2f} s   (target < 0.5 s)")


def sweep_overhead(model: str) -> float:
    """(wall time of a bench run - time spent in its timing loops) / configurations.

    One bench call of four ONNX Runtime configurations (I/O binding off and on, 1 and 2
    threads; the model exported once, warm cache): what the tool costs per configuration
    beyond the timing it was asked for.
    """
    grid: dict[str, Any] = {
        "backends": ["onnxruntime"],
        "reference": "onnxruntime",
        "threads": [1, 2],
        "options": {"onnxruntime": {"iobinding": ["false", "true"]}},
    }
    hepinfer.bench(model, backends=["onnxruntime"], reference="onnxruntime", max_time_s=0.2)  # warm caches
    t0 = time.perf_counter()
    records = hepinfer.bench(model, max_time_s=0.5, **grid)
    wall = time.perf_counter() - t0
    timed = sum(r["timing"].get("wall_s") or 0.0 for r in records if r["status"] == "ok")
    return (wall - timed) / len(records)


if __name__ == "__main__":
    main()
