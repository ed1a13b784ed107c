"""The proof of a repair: original and fixed benched side by side through the normal bench
runner (each configuration in its own worker), and the answers of the two compared on the
same seeded inputs (``measure.agreement.compare``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.measure.agreement import compare
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest
from hepinfer.runner.bench import run_bench as bench_run
from hepinfer.runner.validate.outputs import run_outputs
from hepinfer.zoo import build_inputs, model_ref, spec_of


def _figures(record: Mapping[str, Any]) -> dict[str, Any]:
    if record.get("status") != "ok":
        return {"status": "error", "error": (record.get("error") or {}).get("message")}
    stats, one_off, memory = record["stats"], record["one_off"], record["memory"]
    return {
        "status": "ok",
        "median_ns": stats["median_ns"],
        "per_event_median_ns": stats["per_event_median_ns"],
        "p99_ns": stats["p99_ns"],
        "load_s": one_off.get("load_s"),
        "first_call_ns": one_off.get("first_call_ns"),
        "model_bytes": (memory.get("deltas") or {}).get("model"),
        "peak_rss_bytes": memory.get("peak_rss"),
    }


def side_by_side(
    original: Path,
    fixed: Path,
    backend: str = "onnxruntime",
    batch: int | None = None,
    dims: Mapping[str, int] | None = None,
    threads: int = 1,
    policy: TimingPolicy | None = None,
    seed: int = 0,
    timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Bench ``original`` and ``fixed`` on ``backend`` and compare their answers.

    ``batch`` None: the original's batch (its fixed one, else 1). A re-batched fixed file is
    also benched at twice that batch plus one, and its answers on those events in one call are
    compared with the original's in calls of its own batch.
    """
    spec_o = spec_of(model_ref(str(original)))
    spec_f = spec_of(model_ref(str(fixed)))
    b = batch or spec_o.default_batch()
    policy = policy or TimingPolicy()
    dims = dict(dims or {})
    out: dict[str, Any] = {"backend": backend, "batch": b, "threads": threads}
    rows = {}
    for label, path in (("original", original), ("fixed", fixed)):
        request = BenchRequest(
            model=str(path),
            backends=[backend],
            batches=[b],
            threads=[threads],
            dims=dims,
            seed=seed,
            policy=policy,
            reference=backend,
            timeout_s=timeout_s,
        )
        (record,) = bench_run(request)
        rows[label] = _figures(record)
    if spec_f.has_batch_axis and spec_o.fixed_batch is not None:
        wide = 2 * b + 1
        request = BenchRequest(
            model=str(fixed), backends=[backend], batches=[wide], threads=[threads], dims=dims,
            seed=seed, policy=policy, reference=backend, timeout_s=timeout_s,
        )  # fmt: skip
        (record,) = bench_run(request)
        rows[f"fixed at batch {wide}"] = _figures(record)
    out["runs"] = rows
    o, f = rows["original"], rows["fixed"]
    if o["status"] == f["status"] == "ok":
        out["ratios"] = {
            k: (f[k] / o[k] if o.get(k) and f.get(k) is not None else None)
            for k in ("median_ns", "load_s", "model_bytes", "peak_rss_bytes")
        }
    out["agreement"] = agreement(original, fixed, b, dims, seed, backend, timeout_s)
    return out


def agreement(
    original: Path,
    fixed: Path,
    batch: int,
    dims: Mapping[str, int],
    seed: int,
    backend: str,
    timeout_s: float,
) -> dict[str, Any]:
    """The two files' answers on the same seeded inputs (workers with input files), compared.

    A fixed-batch original runs three of its batches in calls of its batch; a re-batched
    fixed file takes them all in one call, so the comparison covers batch invariance too.
    """
    ref = model_ref(str(original))
    spec = spec_of(ref)
    spec_f = spec_of(model_ref(str(fixed)))
    full = spec.resolve_dims(dims)
    fixed_batch = spec.fixed_batch
    n = 3 * batch if fixed_batch is not None and spec_f.has_batch_axis else batch
    parts = [build_inputs(ref, spec, batch, full, seed + i) for i in range(n // batch)]
    inputs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if len(parts) > 1 else parts[0]
    work = Path(tempfile.mkdtemp(prefix="hepinfer-doctor-"))
    try:
        chunk_o = {"x": fixed_batch} if fixed_batch is not None else None
        chunk_f = {"x": fixed_batch} if spec_f.fixed_batch is not None else None
        got_o = run_outputs(original, backend, {"x": inputs}, work, "original", timeout_s, chunks=chunk_o)[
            "x"
        ]
        got_f = run_outputs(fixed, backend, {"x": inputs}, work, "fixed", timeout_s, chunks=chunk_f)["x"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = compare(got_o, got_f, "fp32", batch_axes={t.name: 0 for t in spec.outputs})
    maxima = [o.get("max_abs") for o in summary["outputs"].values() if o.get("max_abs") is not None]
    summary["events"] = n
    summary["max_abs"] = max(maxima) if maxima else 0.0
    return summary
