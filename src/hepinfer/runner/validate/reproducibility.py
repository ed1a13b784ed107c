"""Reproducibility answers for one backend: yes when every comparison is bitwise identical.

Each check compares the backend's main job with itself or with one of its side jobs: the same
set twice in one process (repeat), a second process (rerun), other thread counts, an event alone
vs inside batches (batch invariance), the other torch exporter, capped instruction sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class
from hepinfer.measure.agreement import EQUAL_NOT_BITWISE, IDENTICAL, Tolerance, compare
from hepinfer.runner.validate.inputs import _take
from hepinfer.runner.validate.request import ValidateJob, ValidateRequest, isa_caps
from hepinfer.runner.validate.worker_outputs import load_outputs

Loaded = dict[str, np.ndarray] | str  # a set's outputs, or why there are none
Comparison = tuple[str, dict[str, Any] | str]  # what was compared, its summary or why not


def answers(
    backend: str,
    main: ValidateJob,
    jobs: list[ValidateJob],
    work: Path,
    request: ValidateRequest,
    axes: Mapping[str, int | None],
    set_names: list[str],
) -> dict[str, Any]:
    """The answer of each reproducibility check the request asks for, for ``main``'s backend.

    ``jobs`` are all of the run's jobs; the backend's side jobs share ``main``'s name prefix.
    """
    checks = set(request.checks)
    prefix = main.name.removesuffix("-main")
    mine = {j.name.removeprefix(prefix + "-"): j for j in jobs if j.name.startswith(prefix + "-")}
    out: dict[str, Any] = {}
    if "repeat" in checks:
        # The worker's first call on the model's default batch ran before the sets; the set
        # "realistic" itself then ran once; "repeat" compares two runs on the same loaded model.
        same_process = _pair(
            load_outputs(main, work, "realistic"), load_outputs(main, work, "realistic_again"), axes
        )
        out["repeat"] = _answer([("realistic vs itself, same process", same_process)])
    if "rerun" in checks and "rerun" in mine:
        second = _pair(
            load_outputs(main, work, "realistic"), load_outputs(mine["rerun"], work, "realistic"), axes
        )
        out["rerun"] = _answer([("second process", second)])
    if "threads" in checks:
        threads = _threads(main, mine, work, axes)
        if threads is not None:
            out["threads"] = threads
    if "batch" in checks:
        out["batch_invariance"] = _batch_invariance(main, work, request, axes, set_names)
    if "exporter" in checks:
        out["exporter"] = _exporter(main, mine, work, axes)
    if "isa" in checks:
        out["isa"] = _isa(backend, main, mine, work, axes, out)
    return out


def _threads(
    main: ValidateJob, mine: Mapping[str, ValidateJob], work: Path, axes: Mapping[str, int | None]
) -> dict[str, Any] | None:
    """Each set of each other-thread-count job against the main job's (None: no such job)."""
    comps: list[Comparison] = []
    for name, j in mine.items():
        if name.startswith("threads"):
            for n in j.sets:
                got = _pair(load_outputs(main, work, n), load_outputs(j, work, n), axes)
                comps.append((f"{j.threads} threads, {n}", got))
    return _answer(comps) if comps else None


def _batch_invariance(
    main: ValidateJob,
    work: Path,
    request: ValidateRequest,
    axes: Mapping[str, int | None],
    set_names: list[str],
) -> dict[str, Any]:
    """Each event run alone ("aloneI") against the same event inside each larger batch."""
    comps: list[Comparison] = []
    sizes = {n: int(n.removeprefix("batch")) for n in set_names if n.startswith("batch")}
    batch_sets = [n for n in set_names if n.startswith("batch") and sizes[n] > 1] + ["realistic"]
    for n in set_names:
        if not n.startswith("alone"):
            continue
        i = int(n.removeprefix("alone"))
        alone = load_outputs(main, work, n)
        for bs in batch_sets:
            inside = load_outputs(main, work, bs)
            if isinstance(inside, dict):
                size = next(iter(inside.values())).shape[0]
                if i >= size:
                    continue
                inside = _event_slice(inside, axes, i)
            label = bs if bs != "realistic" else f"batch{max(request.batch_sizes)}"
            if isinstance(alone, dict):
                alone = {k: v for k, v in alone.items() if axes.get(k, 0) is not None}
            comps.append((f"event {i} alone vs in {label}", _pair(alone, inside, axes)))
    if not comps:
        return {"answer": "n/a", "reason": "the model's batch size is fixed"}
    out = _answer(comps)
    worst = out.get("worst")
    if worst and worst.get("event") is not None:
        worst["event"] = int(worst["where"].split()[1])  # the event's index in the batch
    return out


def _exporter(
    main: ValidateJob, mine: Mapping[str, ValidateJob], work: Path, axes: Mapping[str, int | None]
) -> dict[str, Any]:
    """The main job's outputs against the other torch exporter's, on each of its sets."""
    exporter_jobs = [j for name, j in mine.items() if name.startswith("exporter")]
    if not exporter_jobs:
        return {
            "answer": "n/a",
            "reason": "exporters compared only where a backend runs a zoo model's ONNX export",
        }
    j = exporter_jobs[0]
    return _answer(
        [
            (
                f"{main.exporter} vs {j.exporter}, {n}",
                _pair(load_outputs(main, work, n), load_outputs(j, work, n), axes),
            )
            for n in j.sets
        ]
    )


def _isa(
    backend: str,
    main: ValidateJob,
    mine: Mapping[str, ValidateJob],
    work: Path,
    axes: Mapping[str, int | None],
    answered: Mapping[str, Any],
) -> dict[str, Any]:
    """The runs with capped instruction sets against the main one, with the level each ran at.

    Where the backend has no switch, ``answered`` (the checks done so far) says instead
    whether it is deterministic at all.
    """
    caps, note = isa_caps(backend_class(backend).name)
    comps: list[Comparison] = []
    for k, (label, _env) in enumerate(caps):
        capped = mine.get(f"isa{k}")
        if capped is not None:
            got = _pair(load_outputs(main, work, "realistic"), load_outputs(capped, work, "realistic"), axes)
            comps.append((label, got))
    if comps:
        out = {**_answer(comps), "note": note}
        out["levels"] = {
            label: mine[f"isa{k}"].result.get("backend", {}).get("settings", {}).get("cpu_capability")
            for k, (label, _) in enumerate(caps)
            if f"isa{k}" in mine
        }
        return out
    out = {"answer": "n/a", "reason": note}
    # What can still be told without a switch: is it deterministic at all?
    instead = {k: answered[k]["answer"] for k in ("repeat", "rerun", "threads") if k in answered}
    if instead:
        out["instead"] = instead
    return out


def _pair(a: Loaded, c: Loaded, axes: Mapping[str, int | None]) -> dict[str, Any] | str:
    """The bitwise comparison of two loaded sets, or why one of them has no outputs."""
    if isinstance(a, str):
        return a
    if isinstance(c, str):
        return c
    return _same(a, c, axes)


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
