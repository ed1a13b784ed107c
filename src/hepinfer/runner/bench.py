"""A bench run: a grid of configurations over one model, each in its own worker process.

Planning checks everything that can be checked without a framework (the model file, names,
batch sizes, dynamic axes, options) and fails with one clear error before any worker starts.
Running measures the reference backend first at each batch size, then the others, computes
agreement with the reference's outputs, and appends each record as soon as it is complete.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.errors import ConfigurationError
from hepinfer.measure.agreement import compare
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results import jsonl
from hepinfer.results.schema import Key, new_record
from hepinfer.runner.launch import run_job
from hepinfer.zoo import ModelRef, ModelSpec, entry, model_ref, spec_of


@dataclass(frozen=True)
class BenchRequest:
    """What a user asked for; lists are the axes of the grid."""

    model: str
    backends: Sequence[str] = ("onnxruntime", "pytorch")
    batches: Sequence[int] | None = None  # None: the model's default (its fixed batch, else 1)
    threads: Sequence[int] = (1,)
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    # backend -> option -> values; several values make more configurations.
    options: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    reference: str | None = None
    timeout_s: float = 900.0
    device: str = "cpu"
    # Disk-inclusive timing (hepinfer.data.pipeline): an event file read in chunks of events.
    data: str | None = None
    data_chunk: int = 1000
    data_events: int | None = None


@dataclass
class Plan:
    """The checked request: the model, its spec, and the configurations in running order."""

    ref: ModelRef
    spec: ModelSpec
    reference: str
    keys: list[Key]
    dims: dict[str, int]


def default_reference(ref: ModelRef) -> str:
    """The native framework for a zoo model; ONNX Runtime at default settings for a file."""
    return "pytorch" if ref.kind == "zoo" else "onnxruntime"


def plan(request: BenchRequest) -> Plan:
    """Check the request and lay out its configurations, reference first at each batch."""
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    batches = list(request.batches) if request.batches else [spec.default_batch()]
    for b in batches:
        spec.check_batch(b)
    for t in request.threads:
        if t < 0:
            raise ConfigurationError(f"--threads {t}: use 1 or more (0 leaves the framework's default)")
    backends = [check_name(b) for b in request.backends]
    if not backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime,pytorch")
    for b in request.options:
        if b not in backends:
            raise ConfigurationError(f"--option {b}.…: backend {b} is not among --backend {','.join(backends)}")
    reference = check_name(request.reference or default_reference(ref))
    if request.data is not None:
        from hepinfer.data.pipeline import check

        check(request.data, {t.name for t in spec.inputs})
    variants = {b: _option_grid(b, request.options.get(b, {})) for b in backends}
    common = {
        "device": request.device,
        "dims": dims,
        "model_params": dict(ref.params),
        "exporter": request.exporter,
        "seed": request.seed,
    }
    keys = []
    for batch, b, threads in itertools.product(batches, backends, request.threads):
        for o in variants[b]:
            keys.append(Key(model=ref.label, backend=b, batch=batch, threads=threads, options=o, **common))
    # The reference's default configuration runs first at each batch, so agreement is known.
    keys.sort(key=lambda k: (batches.index(k.batch), k != reference_key(k, reference)))
    return Plan(ref=ref, spec=spec, reference=reference, keys=keys, dims=dims)


def reference_key(key: Key, reference: str) -> Key:
    """The configuration whose outputs ``key``'s are compared with: the reference, 1 thread."""
    return Key(
        model=key.model, backend=reference, batch=key.batch, threads=1, device=key.device,
        options={}, dims=key.dims, model_params=key.model_params, exporter=key.exporter, seed=key.seed,
    )


def _option_grid(backend: str, values: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Every combination of option values, checked by the backend's Options (no framework import)."""
    cls = backend_class(backend)
    names = sorted(values)
    grid = []
    for combo in itertools.product(*(values[n] for n in names)):
        opts = cls.Options.from_strings(backend, dict(zip(names, combo, strict=True)))
        grid.append(opts.variant())
    return grid or [{}]


Progress = Callable[[int, int, Key], None]


def run(
    request: BenchRequest,
    out: Path | None = None,
    on_start: Progress | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    keep_workdir: bool = False,
) -> list[dict[str, Any]]:
    """Measure every configuration of the request; append each record to ``out`` when given."""
    the_plan = plan(request)
    run_id = uuid.uuid4().hex[:12]
    workdir = Path(tempfile.mkdtemp(prefix="hepinfer-"))
    records: list[dict[str, Any]] = []
    outputs: dict[Key, Path | str] = {}  # reference outputs, or why there are none
    try:
        jobs = _with_reference_jobs(the_plan)
        for i, (key, measure) in enumerate(jobs):
            if on_start is not None and measure:
                on_start(sum(m for _, m in jobs[:i]), len(the_plan.keys), key)
            job = {
                "key": key.to_dict(),
                "model_ref": the_plan.ref.to_dict(),
                "policy": request.policy.to_dict(),
                "measure": measure,
            }
            if request.data is not None:
                job["data"] = {"path": str(Path(request.data).resolve()), "chunk": request.data_chunk,
                               "max_events": request.data_events}
            result = run_job(job, workdir, f"job{i:04d}", request.timeout_s)
            npz = workdir / f"job{i:04d}.npz"
            ref_key = reference_key(key, the_plan.reference)
            if key == ref_key:
                outputs[key] = npz if result["status"] == "ok" else result["error"]["message"]
            if not measure:
                continue
            record = _record(key, run_id, result, the_plan)
            record["agreement"] = _agreement(key, ref_key, npz, outputs, result)
            if out is not None:
                jsonl.append(out, record)
            records.append(record)
            if on_record is not None:
                on_record(record)
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return records


def _with_reference_jobs(the_plan: Plan) -> list[tuple[Key, bool]]:
    """The plan's keys, with an outputs-only reference job before a batch that lacks one."""
    jobs: list[tuple[Key, bool]] = []
    planned = set(the_plan.keys)
    seen: set[Key] = set()
    for key in the_plan.keys:
        ref_key = reference_key(key, the_plan.reference)
        if ref_key not in planned and ref_key not in seen:
            jobs.append((ref_key, False))
            seen.add(ref_key)
        jobs.append((key, True))
    return jobs


def _record(key: Key, run_id: str, result: dict[str, Any], the_plan: Plan) -> dict[str, Any]:
    from hepinfer.measure.stats import summarize

    record = new_record(key, run_id)
    record["model"] = {
        "ref": the_plan.ref.to_dict(),
        "inputs": [t.describe() for t in the_plan.spec.inputs],
        "outputs": [t.describe() for t in the_plan.spec.outputs],
        "batch_encodings": list(the_plan.spec.batch_encodings),
        "reference_backend": the_plan.reference,
    }
    if the_plan.ref.kind == "zoo":
        record["model"]["origin"] = entry(the_plan.ref.name).origin
    if result["status"] != "ok":
        record["status"] = "error"
        record["error"] = result["error"]
        return record
    for field_name in ("samples_ns", "timing", "one_off", "memory", "backend", "environment"):
        record[field_name] = result.get(field_name, record[field_name])
    record["model"]["output_shapes"] = result.get("output_shapes", {})
    if "data" in result:
        record["data"] = result["data"]
    record["stats"] = summarize(record["samples_ns"], key.batch, request_confidence(result))
    return record


def request_confidence(result: dict[str, Any]) -> float:
    """The confidence level the worker's policy used."""
    return float(result.get("timing", {}).get("policy", {}).get("confidence", 0.95))


def _agreement(
    key: Key, ref_key: Key, npz: Path, outputs: Mapping[Key, Path | str], result: dict[str, Any]
) -> dict[str, Any] | None:
    if result["status"] != "ok":
        return None
    base = {"reference": {"backend": ref_key.backend, "threads": ref_key.threads}}
    if key == ref_key:
        return {**base, "verdict": "reference"}
    ref = outputs.get(ref_key)
    if not isinstance(ref, Path):
        return {**base, "verdict": "unknown", "reason": f"the reference failed: {ref}"}
    with np.load(ref) as r, np.load(npz) as g:
        return {**base, **compare(dict(r), dict(g))}
