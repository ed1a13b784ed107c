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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.errors import ConfigurationError
from hepinfer.measure.agreement import compare, ulp_unit_for
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results.record import step_seconds
from hepinfer.results.schema import Key, new_record
from hepinfer.runner.job import DataSource, Job
from hepinfer.runner.launch import run_job
from hepinfer.runner.records import RecordSink, add_minimum, take_result
from hepinfer.runner.stage import Staged, interpreter_for, stage_job
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
    # Where --memray writes heap profiles and flame graphs (None: no heap profile).
    memray_dir: str | None = None
    # Disk-inclusive timing (hepinfer.data.pipeline): an event file read in chunks of events.
    data: str | None = None
    data_chunk: int = 1000
    data_events: int | None = None
    # Worker processes per configuration: the whole grid runs ``repeat`` times in rounds, so
    # that a slow spell of the machine touches every configuration alike; each process is a
    # record of its own with a ``repeat`` section (group, index, of).
    repeat: int = 1
    # Shapes a model file does not store (``--input NAME=SHAPE``) or its ONNX twin (``--like``).
    inputs: Mapping[str, str] = field(default_factory=dict)
    like: str | None = None


@dataclass
class Plan:
    """The checked request: the model, its spec, and the configurations in running order.

    ``run`` takes a Plan as well as a request, so that whoever planned first (the CLI, to fail
    before the progress bar; a sweep, to split the grid into groups) does not plan again.
    """

    ref: ModelRef
    spec: ModelSpec
    reference: str
    keys: list[Key]
    dims: dict[str, int]
    request: BenchRequest

    def reference_of(self, key: Key) -> Key:
        """The configuration whose outputs ``key``'s are compared with."""
        return reference_key(key, self.reference)

    @property
    def n_runs(self) -> int:
        """Measured worker processes the plan starts: configurations x repeats."""
        return len(self.keys) * self.request.repeat

    def at_batch(self, batch: int) -> Plan:
        """The part of the plan at one batch size (a sweep's group)."""
        return Plan(
            ref=self.ref,
            spec=self.spec,
            reference=self.reference,
            keys=[k for k in self.keys if k.batch == batch],
            dims=self.dims,
            request=replace(self.request, batches=[batch]),
        )


def default_reference(ref: ModelRef) -> str:
    """The native framework: Keras/TensorFlow for a zoo model whose original was Keras and
    that has a Keras twin (when TensorFlow is installed), else PyTorch for the zoo; ONNX
    Runtime at default settings for a file."""
    if ref.native_backend is not None:  # a file in its own framework's format: that framework
        return ref.native_backend
    if ref.kind != "zoo":
        return "onnxruntime"
    from hepinfer.zoo.keras_twins import has_keras

    keras_native = entry(ref.name).origin == "keras" and has_keras(ref.name)
    if keras_native and backend_class("tensorflow").unavailable_reason() is None:
        return "tensorflow"
    return "pytorch"


def plan(request: BenchRequest) -> Plan:
    """Check the request and lay out its configurations, reference first at each batch."""
    ref = model_ref(request.model, request.params, request.inputs, request.like)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    batches = list(request.batches) if request.batches else [spec.default_batch()]
    for size in batches:
        spec.check_batch(size)
    if request.repeat < 1:
        raise ConfigurationError(
            f"--repeat {request.repeat}: use 1 or more worker processes per configuration"
        )
    for t in request.threads:
        if t < 0:
            raise ConfigurationError(f"--threads {t}: use 1 or more (0 leaves the framework's default)")
    backends = [check_name(b) for b in request.backends]
    if not backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime,pytorch")
    for name in request.options:
        if name not in backends:
            raise ConfigurationError(
                f"--option {name}.…: backend {name} is not among --backend {','.join(backends)}"
            )
    reference = check_name(request.reference or default_reference(ref))
    if request.data is not None:
        from hepinfer.data.pipeline import check

        check(request.data, {t.name for t in spec.inputs})
    variants = {b: _option_grid(b, request.options.get(b, {})) for b in backends}
    keys = []
    for batch, backend, threads in itertools.product(batches, backends, request.threads):
        for o in variants[backend]:
            keys.append(
                Key(
                    model=ref.label,
                    backend=backend,
                    batch=batch,
                    threads=threads,
                    options=o,
                    device=_device(backend, request.device),
                    dims=dims,
                    model_params=dict(ref.params),
                    exporter=request.exporter,
                    seed=request.seed,
                )
            )
    # The reference's default configuration runs first at each batch, so agreement is known.
    keys.sort(key=lambda k: (batches.index(k.batch), k != reference_key(k, reference)))
    return Plan(ref=ref, spec=spec, reference=reference, keys=keys, dims=dims, request=request)


def _device(backend: str, requested: str) -> str:
    """The device a configuration runs on: the request's, unless the backend has only others."""
    devices = backend_class(backend).devices
    return requested if requested in devices else sorted(devices)[0]


def reference_key(key: Key, reference: str) -> Key:
    """The configuration whose outputs ``key``'s are compared with: the reference, 1 thread."""
    return Key(
        model=key.model,
        backend=reference,
        batch=key.batch,
        threads=1,
        device=_device(reference, "cpu"),
        options={},
        dims=key.dims,
        model_params=key.model_params,
        exporter=key.exporter,
        seed=key.seed,
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


def run_bench(
    request: BenchRequest | Plan,
    out: Path | None = None,
    on_start: Progress | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    keep_workdir: bool = False,
    skip: Callable[[Key], bool] | None = None,
) -> list[dict[str, Any]]:
    """Measure every configuration of the request; append each record to ``out`` when given.

    ``request`` is a BenchRequest (planned here) or the Plan of one (planned already).
    ``skip(key)`` true leaves a configuration out (a resumed sweep's done keys); a skipped
    reference still runs, unmeasured, where a configuration left to run needs its outputs.
    """
    bench_plan = request if isinstance(request, Plan) else plan(request)
    request = bench_plan.request
    run_id = uuid.uuid4().hex[:12]
    workdir = Path(tempfile.mkdtemp(prefix="hepinfer-"))
    sink = RecordSink(out, on_record)
    outputs: dict[Key, Path | str] = {}  # reference outputs, or why there are none
    try:
        once = _with_reference_jobs(bench_plan)
        if skip is not None:
            once = _skipping(once, bench_plan.reference, skip)
        repeat = request.repeat
        # Round r runs the whole grid again (the reference first at each batch, as in round 0);
        # an outputs-only reference job runs in round 0 only: its outputs file stays.
        jobs = [(key, measure, r) for r in range(repeat) for key, measure in once if measure or r == 0]
        total = sum(m for _, m, _ in jobs)
        for i, (key, measure, r) in enumerate(jobs):
            if on_start is not None and measure:
                on_start(sum(m for _, m, _ in jobs[:i]), total, key)
            fields, staged, failed = stage_job(bench_plan.ref, bench_plan.spec, key, analyse=measure)
            memray = measure and request.memray_dir is not None
            data = request.data
            job = Job(
                key=key,
                model_ref=bench_plan.ref,
                spec=bench_plan.spec,
                policy=request.policy,
                measure=measure,
                data=DataSource(str(Path(data).resolve()), request.data_chunk, request.data_events)
                if data
                else None,
                memray_dir=request.memray_dir if memray else None,
                memray_name=f"{run_id}-{i:04d}-{key.backend}-b{key.batch}-t{key.threads}" if memray else None,
            ).staged(fields)
            python = None if failed else interpreter_for(key, bench_plan.ref, bench_plan.spec, fields)
            result = failed or run_job(
                job.to_dict(), workdir, f"job{i:04d}", request.timeout_s, python=python
            )
            npz = workdir / f"job{i:04d}.npz"
            ref_key = bench_plan.reference_of(key)
            if key == ref_key:
                outputs[key] = npz if result["status"] == "ok" else result["error"]["message"]
            if not measure:
                continue
            record = _record(key, run_id, result, bench_plan, staged)
            record["agreement"] = _agreement(key, ref_key, npz, outputs, result, bench_plan.spec)
            if repeat > 1:
                record["repeat"] = {"group": run_id, "index": r, "of": repeat}
            sink.add(record)
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return sink.records


def _with_reference_jobs(bench_plan: Plan) -> list[tuple[Key, bool]]:
    """The plan's keys, with an outputs-only reference job before a batch that lacks one."""
    jobs: list[tuple[Key, bool]] = []
    planned = set(bench_plan.keys)
    seen: set[Key] = set()
    for key in bench_plan.keys:
        ref_key = bench_plan.reference_of(key)
        if ref_key not in planned and ref_key not in seen:
            jobs.append((ref_key, False))
            seen.add(ref_key)
        jobs.append((key, True))
    return jobs


# The worker's result sections a bench record takes as they are.
_SECTIONS = ("samples_ns", "timing", "one_off", "memory", "backend", "environment", "process")


def _record(
    key: Key, run_id: str, result: dict[str, Any], bench_plan: Plan, staged: Staged | None
) -> dict[str, Any]:
    from hepinfer.measure.stats import summarize

    record = new_record(key, run_id)
    record["model"] = {
        "ref": bench_plan.ref.to_dict(),
        "inputs": [t.describe() for t in bench_plan.spec.inputs],
        "outputs": [t.describe() for t in bench_plan.spec.outputs],
        "batch_encodings": list(bench_plan.spec.batch_encodings),
        "reference_backend": bench_plan.reference,
        # The configuration this one's agreement (and speed-up) is measured against, as the
        # plan chose it: the report looks it up instead of choosing again.
        "reference_key": bench_plan.reference_of(key).to_dict(),
        "notes": list(bench_plan.spec.notes),
    }
    if bench_plan.ref.kind == "zoo":
        record["model"]["origin"] = entry(bench_plan.ref.name).origin
    if not take_result(record, result, _SECTIONS):
        return record
    record["model"]["output_shapes"] = result.get("output_shapes", {})
    if "data" in result:
        record["data"] = result["data"]
    record["stats"] = summarize(record["samples_ns"], key.batch, request_confidence(result))
    native = (record["timing"] or {}).get("native")
    if native and native.get("samples_ns"):  # the backend's own loop, beside the harness's figure
        record["stats"]["native"] = summarize(native["samples_ns"], key.batch, request_confidence(result))
    add_minimum(record, staged)
    cost = (staged.cost if staged is not None else None) or {}
    if "macs_per_event" in cost:
        record["model"]["cost"] = {
            k: cost[k] for k in ("params", "weight_bytes", "macs_per_event", "uncounted")
        }
        # Achieved arithmetic rate: two FLOPs per multiply-accumulate, at the median.
        record["stats"]["gflops"] = 2 * cost["macs_per_event"] * record["stats"]["throughput_eps"] / 1e9
    elif cost:
        record["model"]["cost"] = cost
    one_off = record["one_off"]  # the cold first call against the warm median
    one_off["warm_median_ns"] = record["stats"]["median_ns"]
    conversions = one_off.get("conversion") or {}
    one_off["conversion_s"] = sum(step_seconds(c) for c in conversions.values())
    if staged is not None:  # the parent's graph analysis: a one-off of the tool, not the backend
        one_off["analysis_s"] = staged.analysis_s
    if one_off.get("first_call_ns") and one_off["warm_median_ns"] > 0:
        one_off["cold_over_warm"] = one_off["first_call_ns"] / one_off["warm_median_ns"]
    return record


def request_confidence(result: dict[str, Any]) -> float:
    """The confidence level the worker's policy used."""
    return float(result.get("timing", {}).get("policy", {}).get("confidence", 0.95))


def _agreement(
    key: Key,
    ref_key: Key,
    npz: Path,
    outputs: Mapping[Key, Path | str],
    result: dict[str, Any],
    spec: ModelSpec,
) -> dict[str, Any] | None:
    if result["status"] != "ok":
        return None
    base = {"reference": {"backend": ref_key.backend, "threads": ref_key.threads}}
    if key == ref_key:
        return {**base, "verdict": "reference"}
    ref = outputs.get(ref_key)
    if not isinstance(ref, Path):
        return {**base, "verdict": "unknown", "reason": f"the reference failed: {ref}"}
    # ULPs in the format the backend computed in, and that precision's tolerance (OpenVINO at
    # bf16 is judged as bf16, not against fp32 steps).
    unit = ulp_unit_for(key.options, (result.get("backend") or {}).get("settings"))
    precision = {"bfloat16": "bf16", "float16": "fp16"}.get(unit or "", "fp32")
    with np.load(ref) as r, np.load(npz) as g:
        # A classifier's first output is its class probabilities: count argmax flips there.
        argmax = [spec.outputs[0].name] if spec.classifier and spec.outputs else []
        axes = {t.name: t.batch_axis for t in spec.outputs}
        found = compare(dict(r), dict(g), precision, argmax=argmax, batch_axes=axes, ulp_unit=unit)
        return {**base, "precision": precision, **found}


def _skipping(
    jobs: list[tuple[Key, bool]], reference: str, skip: Callable[[Key], bool]
) -> list[tuple[Key, bool]]:
    """The jobs without the skipped keys; a skipped reference that others need runs unmeasured."""
    left = [(k, m) for k, m in jobs if not (m and skip(k))]
    needed = {reference_key(k, reference) for k, m in left if m}
    out: list[tuple[Key, bool]] = []
    for key, measure in jobs:
        if measure and skip(key):
            if key in needed:
                out.append((key, False))
        elif measure or key in needed:
            out.append((key, measure))
    return out
