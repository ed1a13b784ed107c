"""From the workers' outputs to the report: agreement per input set, reproducibility answers
(``reproducibility``), physics parity."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.measure import physics
from hepinfer.measure.agreement import (
    EQUAL_NOT_BITWISE,
    IDENTICAL,
    VERDICTS,
    Tolerance,
    compare,
    ulp_unit_for,
)
from hepinfer.runner.validate import reproducibility
from hepinfer.runner.validate.inputs import event_axes, event_axis
from hepinfer.runner.validate.request import InputSet, ValidateJob, ValidateRequest, label
from hepinfer.runner.validate.worker_outputs import died_on, finished_some, load_outputs, worker_error
from hepinfer.zoo import ModelRef, ModelSpec


def argmax_outputs(request: ValidateRequest, spec: ModelSpec) -> list[str]:
    """The outputs whose argmax flips are counted."""
    if request.argmax is not None:
        names = {t.name for t in spec.outputs}
        for n in request.argmax:
            if n not in names:
                raise ConfigurationError(
                    f"--argmax {n}: the model has no output of that name ({', '.join(sorted(names))})"
                )
        return list(request.argmax)
    if not spec.classifier:
        return []
    return [
        t.name
        for t in spec.outputs
        if len(t.shape) >= 2 and isinstance(t.shape[-1], int) and t.shape[-1] >= 2
    ]


def _report(
    request: ValidateRequest,
    ref: ModelRef,
    spec: ModelSpec,
    reference: str,
    sets: list[InputSet],
    jobs: list[ValidateJob],
    work: Path,
    tol: Tolerance,
) -> dict[str, Any]:
    checks = set(request.checks)
    argmax = argmax_outputs(request, spec)
    out_axes = event_axes(spec, spec.outputs)
    set_names = [s.name for s in sets]
    by_set = {s.name: s for s in sets}
    agree_sets = [n for n in set_names if n not in ("background", "signal")]
    report: dict[str, Any] = {
        "kind": "validate",
        "model": ref.label,
        "model_ref": ref.to_dict(),
        "reference": reference,
        "precision": request.precision,
        "tolerance": tol.to_dict(),
        "seed": request.seed,
        "inputs": {s.name: {k: list(v.shape) for k, v in s.inputs.items()} for s in sets},
        "argmax_outputs": argmax,
        "backends": [],
    }
    mains = [j for j in jobs if j.name.endswith("-main")]
    ref_job = mains[0]
    for job in mains:
        b = job.backend
        is_ref = job is ref_job
        entry: dict[str, Any] = {
            "backend": label(b, job.options),
            "options": job.options,
            "role": "reference" if is_ref else "backend",
        }
        if job.result.get("status") != "ok":
            entry["error"] = worker_error(job)
            if not finished_some(job, work):
                entry["verdict"] = "error"
                report["backends"].append(entry)
                continue
            # What ran before the worker died is kept; the sets it did not finish are marked.
            died = died_on(job, work)
            entry["failed_sets"] = {
                n: str(load_outputs(job, work, n)) for n in job.sets if not job.outputs(work, n).exists()
            }
            entry["error"] = f"the worker failed on {died}: {entry['error']}"
        entry["settings"] = job.result.get("backend", {}).get("settings", {})
        entry["nonfinite"] = _nonfinite(job, work)
        if not is_ref and "agreement" in checks:
            entry.update(_agreement(ref_job, job, work, agree_sets, request, tol, argmax, out_axes))
        elif is_ref:
            entry["verdict"] = "reference"
        entry["reproducibility"] = reproducibility.answers(b, job, jobs, work, request, out_axes, set_names)
        if "physics" in checks and not is_ref and "background" in by_set:
            entry["physics"] = _physics(spec, ref_job, job, work, by_set, request)
        report["backends"].append(entry)
    if "physics" in checks and "background" not in by_set:
        report["physics_skipped"] = "the model's inputs have no event axis (rank-1 inputs)"
    if "physics" in checks and "background" in by_set:
        report["physics_score"] = physics.score_kind(spec)
        report["physics_events"] = {
            n: _n_events(by_set[n], spec) for n in ("background", "signal") if n in by_set
        }
    return report


def _nonfinite(job: ValidateJob, work: Path) -> dict[str, int]:
    """NaN/Inf in a backend's own outputs per input set (the reference's included: a padded
    event that makes any backend produce NaN is a bug whoever is the reference)."""
    out = {}
    for n in job.sets:
        got = load_outputs(job, work, n)
        if isinstance(got, dict):
            count = sum(int(np.count_nonzero(~np.isfinite(v))) for v in got.values() if v.dtype.kind == "f")
            if count:
                out[n] = count
    return out


def _n_events(s: InputSet, spec: ModelSpec) -> int:
    t = spec.inputs[0]
    return int(s.inputs[t.name].shape[event_axis(spec, t) or 0])


def _agreement(
    ref_job: ValidateJob,
    job: ValidateJob,
    work: Path,
    set_names: list[str],
    request: ValidateRequest,
    tol: Tolerance,
    argmax: list[str],
    axes: Mapping[str, int | None],
) -> dict[str, Any]:
    per_set: dict[str, Any] = {}
    # ULPs in the precision the backend computes in (OpenVINO bf16: bfloat16 steps), else the
    # reference's float type.
    settings = job.result.get("backend", {}).get("settings", {})
    unit = ulp_unit_for(job.options, settings, request.precision)
    for n in set_names:
        r, g = load_outputs(ref_job, work, n), load_outputs(job, work, n)
        if isinstance(r, str):
            per_set[n] = {"verdict": "unknown", "reason": f"the reference failed: {r}"}
        elif isinstance(g, str):
            per_set[n] = {"verdict": "error", "reason": g}
        else:
            per_set[n] = compare(
                r, g, request.precision, tol=tol, argmax=argmax, batch_axes=axes, ulp_unit=unit
            )
    ranks = {
        IDENTICAL: 0,
        EQUAL_NOT_BITWISE: 1,
        "within tolerance": 2,
        "different": 3,
        "unknown": 2,
        "error": 4,
    }
    worst_set = max(
        per_set, key=lambda n: (ranks[per_set[n]["verdict"]], _excess_key(per_set[n])), default=None
    )
    out: dict[str, Any] = {"sets": per_set}
    units = {s["ulp_unit"] for s in per_set.values() if "ulp_unit" in s}
    if len(units) == 1:
        out["ulp_unit"] = units.pop()
    if worst_set is None:
        out["verdict"] = "unknown"
        return out
    w = per_set[worst_set]
    out["verdict"] = "different" if w["verdict"] == "error" else w["verdict"]
    if w["verdict"] == EQUAL_NOT_BITWISE and w.get("not_bitwise"):
        out["not_bitwise"] = {"inputs": worst_set, **w["not_bitwise"]}
    if w["verdict"] == "error":
        out["worst"] = {"inputs": worst_set, "reason": w["reason"]}
    elif w.get("worst"):
        out["worst"] = {"inputs": worst_set, **w["worst"]}
    return out


def _excess_key(summary: Mapping[str, Any]) -> float:
    """How far the worst element of a summary is from agreement, for ranking input sets."""
    worst = summary.get("worst") or {}
    out = summary.get("outputs", {}).get(worst.get("output"), {})
    if out.get("nan") or out.get("inf"):
        return float("inf")
    return float(out.get("max_abs", 0.0))


def _physics(
    spec: ModelSpec,
    ref_job: ValidateJob,
    job: ValidateJob,
    work: Path,
    sets: Mapping[str, InputSet],
    request: ValidateRequest,
) -> dict[str, Any]:
    loaded = {
        n: (load_outputs(ref_job, work, n), load_outputs(job, work, n)) for n in ("background", "signal")
    }
    for n, (r, g) in loaded.items():
        if isinstance(r, str):
            return {"error": f"the reference failed on the {n} sample: {r}"}
        if isinstance(g, str):
            return {"error": f"failed on the {n} sample: {g}"}
    score = {
        n: (physics.scores(spec, sets[n].inputs, r), physics.scores(spec, sets[n].inputs, g))  # type: ignore[arg-type]
        for n, (r, g) in loaded.items()
    }
    return physics.parity(
        score["signal"][0],
        score["background"][0],
        score["signal"][1],
        score["background"][1],
        request.background_efficiency,
    )


def verdict_rank(verdict: str) -> int:
    """Order of verdicts for summaries: errors after 'different'."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)
