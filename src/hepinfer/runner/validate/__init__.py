"""A validation run: every backend's outputs against the reference's, on inputs that find bugs,
plus reproducibility checks and physics-level parity.

The parent builds every input set once (seeded) and saves it to .npz; each backend runs in
worker processes (``launch.run_job`` with ``measure=False`` jobs) that push the sets through
one loaded model (``run_input_files``, called by the worker) and save the outputs per set. The
parent then compares:

- agreement with the reference on each set: realistic events, padded events (few real
  particles, zeros in the padding), single-particle events, batch 1 and an odd batch;
- reproducibility, each a yes/no with the worst difference: the same input twice in one
  process (bitwise), a second process, other thread counts, batch invariance (an event alone
  vs inside batches of 16 and 256), the other torch exporter, and capped instruction sets
  where the backend has a switch;
- physics parity on a seeded signal and background sample (``hepinfer.measure.physics``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.errors import ConfigurationError
from hepinfer.measure.agreement import Tolerance, tolerance
from hepinfer.results.schema import Key
from hepinfer.runner.job import Job
from hepinfer.runner.launch import run_job
from hepinfer.runner.stage import interpreter_for, stage_job
from hepinfer.runner.validate.analysis import _report, argmax_outputs
from hepinfer.runner.validate.inputs import (
    event_axes,
    event_axis,
    input_sets,
    pad_events,
    padded_axis,
    run_input_files,
)
from hepinfer.runner.validate.request import (
    CHECKS,
    ORT_ISA_NOTE,
    Config,
    InputSet,
    ValidateJob,
    ValidateRequest,
    _consumes_onnx,
    configs,
    isa_caps,
    label,
)
from hepinfer.zoo import ModelRef, ModelSpec, model_ref, spec_of

__all__ = [
    "CHECKS",
    "ORT_ISA_NOTE",
    "Checked",
    "ValidateRequest",
    "argmax_outputs",
    "check",
    "configs",
    "event_axes",
    "event_axis",
    "input_sets",
    "isa_caps",
    "label",
    "pad_events",
    "padded_axis",
    "plan_jobs",
    "record",
    "run_input_files",
    "run_validation",
]


def plan_jobs(
    request: ValidateRequest, ref: ModelRef, reference: str, backends: list[str], sets: list[InputSet]
) -> list[ValidateJob]:
    """The worker jobs: each backend's main job (every set), then its reproducibility jobs.

    ``backends`` is the list of backends besides the reference (options from the request).
    """
    return _plan(
        request,
        ref,
        [(reference, {})] + [(b, dict(request.options.get(b, {}))) for b in backends],
        sets,
    )


def _plan(
    request: ValidateRequest, ref: ModelRef, configs: list[Config], sets: list[InputSet]
) -> list[ValidateJob]:
    checks = set(request.checks)
    names = [s.name for s in sets]
    agree_sets: list[str] = [n for n in ("realistic", "padded") if n in names]
    jobs: list[ValidateJob] = []
    for i, (b, opts) in enumerate(configs):
        tag = f"b{i}"
        main = list(names)
        if "repeat" in checks:
            # The same input twice in a row through one loaded model: must be bitwise equal.
            main.insert(main.index("realistic") + 1, "realistic_again")
        jobs.append(ValidateJob(f"{tag}-main", b, 1, request.exporter, main, options=opts))
        if "rerun" in checks:
            jobs.append(ValidateJob(f"{tag}-rerun", b, 1, request.exporter, ["realistic"], options=opts))
        if "threads" in checks:
            for t in request.threads:
                if t != 1:
                    jobs.append(
                        ValidateJob(f"{tag}-threads{t}", b, t, request.exporter, agree_sets, options=opts)
                    )
        if "exporter" in checks and ref.kind == "zoo" and _consumes_onnx(b, ref):
            other = "legacy" if request.exporter == "dynamo" else "dynamo"
            jobs.append(ValidateJob(f"{tag}-exporter-{other}", b, 1, other, agree_sets, options=opts))
        if "isa" in checks:
            caps, _ = isa_caps(backend_class(b).name)
            for j, (_label, env) in enumerate(caps):
                jobs.append(
                    ValidateJob(
                        f"{tag}-isa{j}",
                        b,
                        1,
                        request.exporter,
                        ["realistic"],
                        env=env,
                        options=opts,
                    )
                )
    return jobs


Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Checked:
    """A request checked without starting a worker: the model, its spec and what runs."""

    ref: ModelRef
    spec: ModelSpec
    dims: dict[str, int]
    reference: str
    configs: list[Config]
    tol: Tolerance


def check(request: ValidateRequest) -> Checked:
    """Everything that can be checked before any worker starts; raises one clear error."""
    unknown = sorted(set(request.checks) - set(CHECKS))
    if unknown:
        raise ConfigurationError(f"--checks {unknown[0]}: choose from {', '.join(CHECKS)}")
    tol = tolerance(request.precision, request.rtol, request.atol)
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    reference = check_name(request.reference or ("pytorch" if ref.kind == "zoo" else "onnxruntime"))
    if not request.backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime")
    confs = configs(request, reference)
    for b in request.options:
        if b not in request.backends:
            raise ConfigurationError(f"--option {b}.…: backend {b} is not among --backend")
    for b, opts in confs:
        backend_class(b).Options.from_strings(b, opts)  # fail before any worker
    argmax_outputs(request, spec)  # a bad --argmax fails before any worker starts
    if request.precision_scan is not None:
        request.precision_scan.check()
    for t in request.threads:
        if t < 1:
            raise ConfigurationError(f"--threads {t}: thread counts compared with 1 must be 1 or more")
    return Checked(ref, spec, dims, reference, confs, tol)


def run_validation(
    request: ValidateRequest,
    on_start: Progress | None = None,
    keep_workdir: bool = False,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Validate every backend of the request; returns the report (JSON-serialisable)."""
    checked = check(request)
    ref, spec, dims, reference, confs, tol = (
        checked.ref,
        checked.spec,
        checked.dims,
        checked.reference,
        checked.configs,
        checked.tol,
    )
    sets = input_sets(request, ref, spec, dims)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="hepinfer-validate-")) if workdir is None else workdir
    try:
        paths = {}
        for s in sets:
            paths[s.name] = work / f"inputs.{s.name}.npz"
            np.savez(paths[s.name], **s.inputs)  # type: ignore[arg-type]
        jobs = _plan(request, ref, confs, sets)
        by_name = {s.name: s for s in sets}
        in_axes = event_axes(spec, spec.inputs)
        out_axes = event_axes(spec, spec.outputs)
        for i, job in enumerate(jobs):
            if on_start is not None:
                on_start(i, len(jobs), job.name)
            key = Key(
                model=ref.label,
                backend=job.backend,
                batch=spec.default_batch(),
                threads=job.threads,
                options=dict(job.options),
                dims=dict(dims),
                model_params=dict(ref.params),
                exporter=job.exporter,
                seed=request.seed,
            )
            fields, _, failed = stage_job(ref, spec, key)
            entries = [
                {
                    "name": n,
                    "inputs": str(paths[_source(n)]),
                    "outputs": str(job.outputs(work, n)),
                    "chunk": by_name[_source(n)].chunk,
                    "axes": in_axes,
                    "out_axes": out_axes,
                }
                for n in job.sets
            ]
            spec_job = Job(key=key, model_ref=ref, spec=spec, measure=False, input_files=tuple(entries))
            spec_job = spec_job.staged(fields)
            python = None if failed else interpreter_for(key, ref, spec, fields)
            job.result = failed or run_job(
                spec_job.to_dict(), work, job.name, request.timeout_s, env=job.env or None, python=python
            )
        report = _report(request, ref, spec, reference, sets, jobs, work, tol)
        if request.precision_scan is not None:  # fixed-point widths (runner.validate.precision)
            from hepinfer.runner.validate.precision import run_scan

            report["precision_scan"] = run_scan(
                request, request.precision_scan, ref, spec, dims, reference, work, on_start
            )
        return report
    finally:
        if own and not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)


def record(request: Any, report: dict[str, Any], section: str = "validate") -> dict[str, Any]:
    """The report as a complete record of kind "validate", for ``jsonl.append`` (``--out``).

    ``request`` is the ValidateRequest (or LayerwiseRequest) the report answers. The key says
    what was validated: the model, the backends (the reference first, comma separated), each
    backend's options, the dims, model options, exporter and seed; the report itself is the
    record's ``validate`` section (``layerwise`` for ``validate --layerwise``).
    """
    import uuid

    from hepinfer.measure.environment import environment
    from hepinfer.results.schema import new_record

    entries = report.get("backends") or []
    backends = [b["backend"] if isinstance(b, dict) else str(b) for b in entries] or list(request.backends)
    sizes = getattr(request, "batch_sizes", None) or [getattr(request, "batch", 1)]
    key = Key(
        model=str(report.get("model", request.model)),
        backend=",".join(backends),
        batch=max(sizes),
        threads=1,
        options={b: dict(o) for b, o in request.options.items()},
        dims=dict(request.dims),
        model_params=dict(request.params),
        exporter=request.exporter,
        seed=request.seed,
    )
    out = new_record(key, uuid.uuid4().hex[:12])
    out.update(kind="validate", timing=None, stats=None, memory=None, one_off=None, model=None, backend=None)
    out["environment"] = environment()
    out[section] = report
    return out


def _source(set_name: str) -> str:
    """The input set a job entry reads ("realistic_again" reads "realistic")."""
    return set_name.removesuffix("_again")
