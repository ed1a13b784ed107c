"""From the workers' outputs to the report: agreement per input set, reproducibility answers,
physics parity."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class
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
from hepinfer.runner.validate.inputs import _take, event_axes, event_axis
from hepinfer.runner.validate.request import ValidateRequest, _Job, _Set, isa_caps, label
from hepinfer.zoo import ModelRef, ModelSpec


def _load(job: _Job, work: Path, set_name: str) -> dict[str, np.ndarray] | str:
    """A job's outputs on a set, or why there are none.

    A worker that died (a crash, a timeout) still leaves the outputs of the sets it finished;
    the first set without outputs is where it died, the ones after it never ran.
    """
    for r in job.result.get("input_files", []):
        if r["name"] == set_name and r["status"] != "ok":
            return str(r["message"])
    path = job.outputs(work, set_name)
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    if job.result.get("status") == "ok":
        return "no outputs"
    died = _died_on(job, work)
    why = _worker_error(job)
    if died == set_name or died is None:
        return f"the worker failed on this set: {why}"
    return f"not run: the worker failed earlier, on {died}: {why}"


def _worker_error(job: _Job) -> str:
    err = job.result.get("error") or {}
    message, phase = str(err.get("message", "worker failed")), err.get("phase")
    return message if not phase or str(phase) in message else f"{message} (phase {phase})"


def _died_on(job: _Job, work: Path) -> str | None:
    """The first of a failed job's sets that left no outputs (None: every set did)."""
    return next((n for n in job.sets if not job.outputs(work, n).exists()), None)


def _partial(job: _Job, work: Path) -> bool:
    """Whether a failed job finished some of its sets before it died."""
    return any(job.outputs(work, n).exists() for n in job.sets)


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


def _same(
    a: dict[str, np.ndarray], b: dict[str, np.ndarray], axes: Mapping[str, int | None]
) -> dict[str, Any]:
    """Bitwise comparison: identical or not, with the worst difference located."""
    return compare(a, b, tol=Tolerance(0.0, 0.0), batch_axes=axes)


def _answer(summaries: list[tuple[str, dict[str, Any] | str]]) -> dict[str, Any]:
    """A reproducibility answer from comparisons: yes when every one is identical."""
    errors = [(what, s) for what, s in summaries if isinstance(s, str)]
    done = [(what, s) for what, s in summaries if not isinstance(s, str)]
    if not done:
        return {"answer": "n/a", "reason": errors[0][1] if errors else "nothing to compare"}
    bad = [(what, s) for what, s in done if s["verdict"] != IDENTICAL]
    out: dict[str, Any] = {
        "answer": "no" if bad else "yes",
        "each": {w: "yes" if s["verdict"] == IDENTICAL else "no" for w, s in done},
    }
    # Equal values whose bits differ (signed zeros, NaN payloads, dtype) are a "no" too: say so.
    not_bitwise = {
        what: "; ".join(f"{n} {r}" for n, r in s["not_bitwise"].items())
        for what, s in bad
        if s["verdict"] == EQUAL_NOT_BITWISE and s.get("not_bitwise")
    }
    if not_bitwise:
        out["not_bitwise"] = not_bitwise
        out["values_equal"] = len(not_bitwise) == len(bad)
    if errors:
        out["errors"] = {w: e for w, e in errors}
    worst_abs, worst_ulp = 0.0, 0
    for _, s in done:
        for o in s["outputs"].values():
            worst_abs = max(worst_abs, o.get("max_abs", 0.0))
            worst_ulp = max(worst_ulp, o.get("ulp_max", 0))
    out["max_abs"] = worst_abs
    out["ulp_max"] = worst_ulp
    units = {o["ulp_unit"] for _, s in done for o in s["outputs"].values() if "ulp_unit" in o}
    if len(units) == 1:
        out["ulp_unit"] = units.pop()
    if bad:
        what, s = max(bad, key=lambda ws: max(o.get("max_abs", 0.0) for o in ws[1]["outputs"].values()))
        out["worst"] = {"where": what, **s.get("worst", {})}
        nan = sum(o.get("nan", 0) + o.get("inf", 0) for _, s in bad for o in s["outputs"].values())
        if nan:
            out["new_nonfinite"] = nan
    return out


def _event_slice(
    outputs: dict[str, np.ndarray], axes: Mapping[str, int | None], i: int
) -> dict[str, np.ndarray]:
    return {k: _take(v, axes.get(k, 0), i, i + 1) for k, v in outputs.items() if axes.get(k, 0) is not None}


def _report(
    request: ValidateRequest,
    ref: ModelRef,
    spec: ModelSpec,
    reference: str,
    sets: list[_Set],
    jobs: list[_Job],
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
            entry["error"] = _worker_error(job)
            if not _partial(job, work):
                entry["verdict"] = "error"
                report["backends"].append(entry)
                continue
            # What ran before the worker died is kept; the sets it did not finish are marked.
            died = _died_on(job, work)
            entry["failed_sets"] = {
                n: str(_load(job, work, n)) for n in job.sets if not job.outputs(work, n).exists()
            }
            entry["error"] = f"the worker failed on {died}: {entry['error']}"
        entry["settings"] = job.result.get("backend", {}).get("settings", {})
        entry["nonfinite"] = _nonfinite(job, work)
        if not is_ref and "agreement" in checks:
            entry.update(_agreement(ref_job, job, work, agree_sets, request, tol, argmax, out_axes))
        elif is_ref:
            entry["verdict"] = "reference"
        entry["reproducibility"] = _reproducibility(b, job, jobs, work, request, out_axes, set_names)
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


def _nonfinite(job: _Job, work: Path) -> dict[str, int]:
    """NaN/Inf in a backend's own outputs per input set (the reference's included: a padded
    event that makes any backend produce NaN is a bug whoever is the reference)."""
    out = {}
    for n in job.sets:
        got = _load(job, work, n)
        if isinstance(got, dict):
            count = sum(int(np.count_nonzero(~np.isfinite(v))) for v in got.values() if v.dtype.kind == "f")
            if count:
                out[n] = count
    return out


def _n_events(s: _Set, spec: ModelSpec) -> int:
    t = spec.inputs[0]
    return int(s.inputs[t.name].shape[event_axis(spec, t) or 0])


def _agreement(
    ref_job: _Job,
    job: _Job,
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
        r, g = _load(ref_job, work, n), _load(job, work, n)
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


def _reproducibility(
    b: str,
    main: _Job,
    jobs: list[_Job],
    work: Path,
    request: ValidateRequest,
    axes: Mapping[str, int | None],
    set_names: list[str],
) -> dict[str, Any]:
    checks = set(request.checks)
    prefix = main.name.removesuffix("-main")
    mine = {j.name.removeprefix(prefix + "-"): j for j in jobs if j.name.startswith(prefix + "-")}
    out: dict[str, Any] = {}

    def pair(a: dict[str, np.ndarray] | str, c: dict[str, np.ndarray] | str) -> dict[str, Any] | str:
        if isinstance(a, str):
            return a
        if isinstance(c, str):
            return c
        return _same(a, c, axes)

    if "repeat" in checks:
        # The worker's first call on the model's default batch ran before the sets; the set
        # "realistic" itself then ran once; "repeat" compares two runs on the same loaded model.
        out["repeat"] = _answer(
            [
                (
                    "realistic vs itself, same process",
                    pair(_load(main, work, "realistic"), _load(main, work, "realistic_again")),
                )
            ]
        )
    if "rerun" in checks and "rerun" in mine:
        out["rerun"] = _answer(
            [
                (
                    "second process",
                    pair(_load(main, work, "realistic"), _load(mine["rerun"], work, "realistic")),
                )
            ]
        )
    if "threads" in checks:
        comps = []
        for name, j in mine.items():
            if name.startswith("threads"):
                for n in j.sets:
                    comps.append((f"{j.threads} threads, {n}", pair(_load(main, work, n), _load(j, work, n))))
        if comps:
            out["threads"] = _answer(comps)
    if "batch" in checks:
        comps = []
        sizes = {n: int(n.removeprefix("batch")) for n in set_names if n.startswith("batch")}
        batch_sets = [n for n in set_names if n.startswith("batch") and sizes[n] > 1] + ["realistic"]
        for n in set_names:
            if not n.startswith("alone"):
                continue
            i = int(n.removeprefix("alone"))
            alone = _load(main, work, n)
            for bs in batch_sets:
                inside = _load(main, work, bs)
                if isinstance(inside, dict):
                    size = next(iter(inside.values())).shape[0]
                    if i >= size:
                        continue
                    inside = _event_slice(inside, axes, i)
                label = bs if bs != "realistic" else f"batch{max(request.batch_sizes)}"
                if isinstance(alone, dict):
                    alone = {k: v for k, v in alone.items() if axes.get(k, 0) is not None}
                comps.append((f"event {i} alone vs in {label}", pair(alone, inside)))
        if comps:
            out["batch_invariance"] = _answer(comps)
            worst = out["batch_invariance"].get("worst")
            if worst and worst.get("event") is not None:
                worst["event"] = int(worst["where"].split()[1])  # the event's index in the batch
        else:
            out["batch_invariance"] = {"answer": "n/a", "reason": "the model's batch size is fixed"}
    if "exporter" in checks and not any(name.startswith("exporter") for name in mine):
        out["exporter"] = {
            "answer": "n/a",
            "reason": "exporters compared only where a backend runs a zoo model's ONNX export",
        }
    exporter_jobs = [j for name, j in mine.items() if name.startswith("exporter")]
    if "exporter" in checks and exporter_jobs:
        j = exporter_jobs[0]
        out["exporter"] = _answer(
            [
                (
                    f"{main.exporter} vs {j.exporter}, {n}",
                    pair(_load(main, work, n), _load(j, work, n)),
                )
                for n in j.sets
            ]
        )
    if "isa" in checks:
        caps, note = isa_caps(backend_class(b).name)
        comps = []
        for k, (label, _env) in enumerate(caps):
            capped = mine.get(f"isa{k}")
            if capped is not None:
                comps.append((label, pair(_load(main, work, "realistic"), _load(capped, work, "realistic"))))
        if comps:
            out["isa"] = {**_answer(comps), "note": note}
            out["isa"]["levels"] = {
                label: mine[f"isa{k}"].result.get("backend", {}).get("settings", {}).get("cpu_capability")
                for k, (label, _) in enumerate(caps)
                if f"isa{k}" in mine
            }
        else:
            out["isa"] = {"answer": "n/a", "reason": note}
            # What can still be told without a switch: is it deterministic at all?
            instead = {k: out[k]["answer"] for k in ("repeat", "rerun", "threads") if k in out}
            if instead:
                out["isa"]["instead"] = instead
    return out


def _physics(
    spec: ModelSpec,
    ref_job: _Job,
    job: _Job,
    work: Path,
    sets: Mapping[str, _Set],
    request: ValidateRequest,
) -> dict[str, Any]:
    loaded = {n: (_load(ref_job, work, n), _load(job, work, n)) for n in ("background", "signal")}
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
