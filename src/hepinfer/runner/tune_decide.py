"""The tuner's judgements on records: what a candidate scores, why it is out, who won.

Plain functions on bench records (JSON dicts of schema 2), so that the search in
``runner.tune`` only schedules and the rules here can be read (and tested) on their own.

Objectives, each computed from the record's raw samples or sections:

- ``median``: the per-event median (median call time / batch), lower is better;
- ``p99``: the per-event 99th percentile, lower is better; valid only with >= 1000 samples
  (``stats.p99_valid``); a record without a valid p99 is ranked by its per-event median in
  the halving rounds, and the table says so;
- ``throughput``: sustained events per second (events / the sum of the call times, so the
  tail counts), higher is better;
- ``memory``: the worker's peak RSS over its phases, lower is better.

The final decision between the two finalists is made on K worker processes each (the
per-process figure carries the between-process variance that pooled samples hide): a
one-sided Mann-Whitney U test on the K per-process values, *and* a test on the pooled raw
samples (Mann-Whitney U on per-event times; for p99, non-overlapping order-statistic CIs of
the pooled p99s; memory has one value per process, so only the first test applies), *and* a
difference of at least ``min_change``. All three, or the result is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

OBJECTIVES = ("median", "p99", "throughput", "memory")
# Verdicts that keep a candidate in; "different" is always out, "unknown" only with --require.
GOOD = ("reference", "identical", "equal values, not bitwise", "within tolerance")
MiB = 1024 * 1024


def peak_bytes(record: dict[str, Any]) -> int | None:
    """The highest peak RSS over the worker's phases (None when none was recorded)."""
    peak = (record.get("memory") or {}).get("peak") or {}
    values = [v for v in peak.values() if isinstance(v, int | float)]
    return int(max(values)) if values else None


def score(record: dict[str, Any], objective: str) -> tuple[float, str]:
    """The candidate's figure for ranking, lower is better, and what it is (for the table)."""
    stats = record.get("stats") or {}
    if objective == "p99":
        if stats.get("p99_valid") and stats.get("per_event_p99_ns") is not None:
            return float(stats["per_event_p99_ns"]), "p99/event"
        return float(stats["per_event_median_ns"]), f"median/event (p99 needs n>=1000, n={stats.get('n')})"
    if objective == "throughput":
        return -float(stats["sustained_eps"]), "events/s"
    if objective == "memory":
        peak = peak_bytes(record)
        if peak is None:
            return float("inf"), "peak RSS (not recorded)"
        return float(peak), "peak RSS"
    return float(stats["per_event_median_ns"]), "median/event"


def why_out(record: dict[str, Any], max_memory_mib: float | None, require_agreement: bool) -> str | None:
    """Why a measured candidate leaves the search, or None when it stays."""
    if record.get("status") != "ok":
        err = record.get("error") or {}
        return f"error in {err.get('phase', '?')}: {err.get('message', 'no message')}"
    verdict = str((record.get("agreement") or {}).get("verdict", "unknown"))
    if verdict == "different":
        return "answers outside the tolerance of the reference"
    if require_agreement and verdict not in GOOD:
        reason = (record.get("agreement") or {}).get("reason", "")
        return f"agreement {verdict} (--require agreement){': ' + reason if reason else ''}"
    if max_memory_mib is not None:
        peak = peak_bytes(record)
        if peak is None:
            return "peak memory not recorded (--max-memory needs it)"
        if peak > max_memory_mib * MiB:
            return f"peak RSS {peak / MiB:.1f} MiB > --max-memory {max_memory_mib:g} MiB"
    return None


def per_event(record: dict[str, Any]) -> np.ndarray:
    """The raw call times divided by the batch: comparable across batch sizes."""
    return np.asarray(record["samples_ns"], dtype=np.float64) / int(record["key"]["batch"])


def process_value(record: dict[str, Any], objective: str) -> float:
    """One process's figure for the final test (lower is better); p99 only where valid."""
    value, _ = score(record, objective)
    return value


def _mwu_less(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value for "a is stochastically smaller than b"."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="less").pvalue)


def pooled_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics of one finalist's samples over all its processes (per call, at its batch)."""
    from hepinfer.measure.stats import summarize

    batch = int(records[0]["key"]["batch"])
    samples = [s for r in records for s in r["samples_ns"]]
    return summarize(samples, batch)


def raw_test(
    best: Sequence[dict[str, Any]], other: Sequence[dict[str, Any]], objective: str
) -> dict[str, Any]:
    """The test on the pooled raw samples: is ``best`` better than ``other``?"""
    if objective == "memory":
        return {"method": "none (one peak per process)", "significant": True, "p_value": None}
    if objective == "p99":
        a, b = pooled_stats(best), pooled_stats(other)
        if not (a["p99_valid"] and b["p99_valid"]):
            return {
                "method": "p99 CIs (pooled n < 1000: p99 not valid)",
                "significant": False,
                "p_value": None,
            }
        ba, bb = int(best[0]["key"]["batch"]), int(other[0]["key"]["batch"])
        separated = a["p99_ci_high_ns"] / ba < b["p99_ci_low_ns"] / bb
        return {
            "method": "non-overlapping 95% CIs of the pooled p99s",
            "significant": separated,
            "p_value": None,
        }
    xa = np.concatenate([per_event(r) for r in best])
    xb = np.concatenate([per_event(r) for r in other])
    # Throughput: faster calls are higher throughput, so the same direction on call times.
    p = _mwu_less(xa, xb)
    return {"method": "Mann-Whitney U on pooled per-event times", "significant": None, "p_value": p}


def decide(
    finals: dict[str, list[dict[str, Any]]],
    objective: str,
    alpha: float = 0.05,
    min_change: float = 0.01,
) -> dict[str, Any]:
    """Winner or tie among the finalists, from their K records each (label -> records).

    The best is the one with the best median per-process figure; it wins only when it beats
    every other finalist by every test in the module docstring.
    """
    values = {c: [process_value(r, objective) for r in rs] for c, rs in finals.items() if rs}
    order = sorted(values, key=lambda c: float(np.median(values[c])))
    best = order[0]
    tests = []
    ties = [best]
    for other in order[1:]:
        va, vb = values[best], values[other]
        ma, mb = float(np.median(va)), float(np.median(vb))
        # For throughput the figure is negative events/s: compare magnitudes for the change.
        change = abs(mb - ma) / abs(mb) if mb else 0.0
        p_process = _mwu_less(va, vb) if len(va) > 1 and len(vb) > 1 else 1.0
        raw = raw_test(finals[best], finals[other], objective)
        raw_ok = raw["significant"] if raw["significant"] is not None else raw["p_value"] < alpha
        beats = p_process < alpha and bool(raw_ok) and change >= min_change
        tests.append(
            {
                "against": other,
                "processes": [len(va), len(vb)],
                "process_test": "one-sided Mann-Whitney U on per-process figures",
                "p_process": p_process,
                "raw_test": raw["method"],
                "p_raw": raw["p_value"],
                "raw_significant": bool(raw_ok),
                "change": change,
                "beats": beats,
            }
        )
        if not beats:
            ties.append(other)
    note = "the only candidate left in the final: no test was possible" if len(order) == 1 else None
    return {
        "decision": "winner" if len(ties) == 1 else "tie",
        "note": note,
        "best": best,
        "ties": ties,
        "order": order,
        "process_values": values,
        "tests": tests,
        "alpha": alpha,
        "min_change": min_change,
    }


def expected(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What to expect of a configuration deployed, from its K final processes.

    ``median_ci_ns`` spans the pooled samples' CI of the median and the range of the K
    per-process medians (the between-process spread the pooled CI ignores); ``p99_ns`` is the
    pooled p99, given only with >= 1000 pooled samples (``p99_note`` says why not otherwise).
    """
    pooled = pooled_stats(records)
    medians = [float(np.median(r["samples_ns"])) for r in records]
    lo = min(pooled["ci_low_ns"], *medians)
    hi = max(pooled["ci_high_ns"], *medians)
    batch = int(records[0]["key"]["batch"])
    out: dict[str, Any] = {
        "median_ns": pooled["median_ns"],
        "median_ci_ns": [lo, hi],
        "per_event_median_ns": pooled["median_ns"] / batch,
        "process_medians_ns": medians,
        "p99_ns": pooled["p99_ns"],
        "p99_ci_ns": [pooled["p99_ci_low_ns"], pooled["p99_ci_high_ns"]] if pooled["p99_valid"] else None,
        "per_event_p99_ns": pooled["per_event_p99_ns"],
        "p99_note": pooled["tail_note"],
        "throughput_eps": pooled["throughput_eps"],
        "sustained_eps": pooled["sustained_eps"],
        "samples": pooled["n"],
        "processes": len(records),
        "ci_note": "median_ci_ns: the pooled samples' 95% CI of the median joined with the "
        "range of the per-process medians",
    }
    return out


def figure(record: dict[str, Any], objective: str) -> tuple[float | None, str]:
    """The natural figure shown for a record (ns, events/s or bytes) and its unit."""
    if record.get("status") != "ok":
        return None, ""
    value, what = score(record, objective)
    if objective == "throughput":
        return -value, "events/s"
    if objective == "memory":
        return (value if math.isfinite(value) else None), "bytes"
    return value, "ns/event" + ("" if what in ("median/event", "p99/event") else " (median: p99 invalid)")


def deploy_document(
    request: Mapping[str, Any],
    model: Mapping[str, Any],
    finals: Mapping[str, list[dict[str, Any]]],
    verdict: dict[str, Any],
    search: Mapping[str, Any],
) -> dict[str, Any]:
    """The deploy document: the configuration to run, what to expect of it, and why.

    In a tie no configuration is faster, so the leanest of the tie set is the one to deploy
    (fewest threads, then the lowest peak memory), and the others are listed in ``ties``.
    """

    def config(name: str) -> dict[str, Any]:
        records = finals[name]
        key = records[0]["key"]
        peaks = [peak_bytes(r) for r in records]
        measured = [(r.get("memory") or {}).get("measured_bytes") for r in records]
        return {
            "label": name,
            "backend": key["backend"],
            "options": key["options"],
            "threads": key["threads"],
            "batch": key["batch"],
            "device": key["device"],
            "expected": expected(records),
            "memory": {
                "peak_bytes": max((p for p in peaks if p is not None), default=None),
                "measured_bytes": max((m for m in measured if m is not None), default=None),
            },
            "agreement": records[0].get("agreement"),
        }

    best = config(verdict["best"])
    ties = [config(n) for n in verdict["ties"]] if verdict["decision"] == "tie" else []
    if ties:
        best = min(ties, key=lambda c: (c["threads"], c["memory"]["peak_bytes"] or 0))
    first = finals[verdict["best"]][0]
    return {
        "hepinfer_deploy": 1,
        "decision": verdict["decision"],
        "objective": request["objective"],
        "model": dict(model),
        **{k: best[k] for k in ("label", "backend", "options", "threads", "batch", "device")},
        "expected": best["expected"],
        "memory": {**best["memory"], "limit_mib": request.get("max_memory_mib")},
        "agreement": best["agreement"],
        "environment": first.get("environment"),
        "ties": ties,
        "test": {k: verdict[k] for k in ("best", "note", "tests", "alpha", "min_change", "process_values")},
        "search": dict(search),
        "request": dict(request),
    }
