"""One report row per configuration from the K worker processes of ``bench --repeat K``.

Each process stays a record of its own on disk (``results.record.Repeat``: the K records of a
run share ``repeat.group``). A report row stands for the configuration:

- **median**: the median of the K per-process medians (what ``compare`` tests on, and what a
  rerun meets); ``per_event_median_ns``, ``throughput_eps`` and GFLOP/s follow from it.
- **spread**: ``ci_low_ns``/``ci_high_ns`` are the smallest and largest per-process median, an
  order-statistic interval of the median over processes with confidence 1 - 2^(1-K) (75% for
  K=3, 94% for K=5): ``ci_method`` and ``confidence`` say so.
- **tails**: samples are never pooled across processes (each process has its own memory
  layout, thread placement and moment on the machine, so a pooled quantile mixes K
  distributions). p90 / p99 are the median over the processes of each one's own, given only
  where every process's own is valid (p90: n >= 100, p99: n >= 1000 in each; measure.stats).
- **one-off costs**: the median over the processes of each numeric field (each process pays
  its own import, load, compilation and cold first call).
- **memory** is the median process's (the one whose median is the row's, the lower of the two
  middle ones for even K); **agreement** is the worst verdict over the processes.

``processes`` in the row holds K, how many measured, their per-event medians and which
process the memory comes from.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from typing import Any

# Worst last: a row shows the worst verdict any of its processes had.
_VERDICT_ORDER = (
    "reference",
    "identical",
    "equal values, not bitwise",
    "within tolerance",
    "unknown",
    "different",
)


def group_of(record: dict[str, Any]) -> str | None:
    """The record's ``repeat.group`` (None for a run without ``--repeat``)."""
    return (record.get("repeat") or {}).get("group")


def combine(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration and run: records sharing a key and a ``repeat`` group are
    combined into one row (first-seen order); a record without a group stays as it is."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for i, r in enumerate(records):
        group = group_of(r)
        ident = json.dumps([r["key"], group], sort_keys=True, default=str) if group else f"#{i}"
        runs.setdefault(ident, []).append(r)
    return [combined(rs) for rs in runs.values()]


def combined(run: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The row of one configuration's K processes (a single record is returned as it is)."""
    if len(run) == 1 and group_of(run[0]) is None:
        return run[0]
    measured = [r for r in run if r.get("status") == "ok" and (r.get("stats") or {}).get("median_ns")]
    of = max([int((r.get("repeat") or {}).get("of") or 0) for r in run] + [len(run)])
    summary: dict[str, Any] = {
        "of": of,
        "measured": len(measured),
        "failed": len(run) - len(measured),
        "group": group_of(run[-1]),
    }
    if not measured:  # every process failed: the last one's error stands for the row
        return {**run[-1], "processes": summary}
    batch = int(measured[0]["key"]["batch"])
    order = sorted(range(len(measured)), key=lambda i: measured[i]["stats"]["median_ns"])
    middle = measured[order[(len(order) - 1) // 2]]
    summary["per_event_median_ns"] = [r["stats"]["median_ns"] / batch for r in measured]
    summary["indices"] = [(r.get("repeat") or {}).get("index") for r in measured]
    summary["memory_from"] = (middle.get("repeat") or {}).get("index")
    row = {k: v for k, v in middle.items() if k != "samples_ns"}
    row["processes"] = summary
    row["stats"] = _stats(measured, batch, middle["stats"])
    row["one_off"] = _one_off(measured, middle.get("one_off") or {})
    row["timing"] = _timing(measured, middle.get("timing") or {})
    worst = max(measured, key=lambda r: _rank((r.get("agreement") or {}).get("verdict")))
    row["agreement"] = worst.get("agreement")
    return row


def _rank(verdict: str | None) -> int:
    return _VERDICT_ORDER.index(verdict) if verdict in _VERDICT_ORDER else _VERDICT_ORDER.index("unknown")


def _median_of(stats: Sequence[dict[str, Any]], name: str) -> float | None:
    values = [s.get(name) for s in stats]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if not values or len(numbers) != len(values):
        return None
    return float(statistics.median(numbers))


def _stats(measured: Sequence[dict[str, Any]], batch: int, middle: dict[str, Any]) -> dict[str, Any]:
    """The row's statistics from the per-process ones (see the module docstring)."""
    per = [r["stats"] for r in measured]
    k = len(per)
    median = float(statistics.median(s["median_ns"] for s in per))
    n = [int(s.get("n") or 0) for s in per]
    out: dict[str, Any] = {
        "n": sum(n),
        "n_per_process": n,
        "median_ns": median,
        "per_event_median_ns": median / batch,
        "throughput_eps": batch * 1e9 / median,
        "min_ns": min(s["min_ns"] for s in per if "min_ns" in s) if all("min_ns" in s for s in per) else None,
        "max_ns": max(s["max_ns"] for s in per if "max_ns" in s) if all("max_ns" in s for s in per) else None,
        "iqr_ns": _median_of(per, "iqr_ns"),
        "noisy": any(bool(s.get("noisy")) for s in per),
    }
    if k == 1:  # one process measured: its own interval
        out.update({f: per[0].get(f) for f in ("ci_low_ns", "ci_high_ns", "ci_method", "confidence")})
    else:
        out.update(
            ci_low_ns=float(min(s["median_ns"] for s in per)),
            ci_high_ns=float(max(s["median_ns"] for s in per)),
            ci_method=f"min-max of {k} per-process medians",
            confidence=1.0 - 2.0 ** (1 - k),
        )
    means = [s.get("mean_ns") for s in per]
    if all(isinstance(m, int | float) for m in means) and sum(n) > 0:
        total_ns = sum(m * c for m, c in zip(means, n, strict=True))
        out["mean_ns"] = total_ns / sum(n)
        out["sustained_eps"] = sum(n) * batch * 1e9 / total_ns if total_ns > 0 else None
    for q in ("p90", "p99"):  # each process judged its own (measure.stats: n >= 100, 1000)
        valid = all(s.get(f"{q}_valid") is True and s.get(f"{q}_ns") is not None for s in per)
        out[f"{q}_valid"] = valid
        out[f"{q}_ns"] = _median_of(per, f"{q}_ns") if valid else None
    out["per_event_p99_ns"] = out["p99_ns"] / batch if out["p99_ns"] is not None else None
    out["tail_note"] = (
        f"p90/p99: median of the {k} per-process values (samples not pooled)"
        if out["p99_valid"]
        else f"p99 needs n >= 1000 in every process (n = {', '.join(map(str, n))})"
    )
    if isinstance(middle.get("gflops"), int | float) and middle.get("throughput_eps"):
        out["gflops"] = middle["gflops"] * out["throughput_eps"] / middle["throughput_eps"]
    if middle.get("native"):  # a backend's own loop: one process's, as recorded beside it
        out["native"] = middle["native"]
    return out


def _one_off(measured: Sequence[dict[str, Any]], middle: dict[str, Any]) -> dict[str, Any]:
    """Per numeric field, the median over the processes; the rest (conversion) the median process's."""
    parts = [r.get("one_off") or {} for r in measured]
    out = dict(middle)
    for name, value in middle.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            found = _median_of(parts, name)
            if found is not None:
                out[name] = found
    return out


def _timing(measured: Sequence[dict[str, Any]], middle: dict[str, Any]) -> dict[str, Any]:
    """The median process's timing; the stop reason says how many processes did not converge."""
    reasons = [(r.get("timing") or {}).get("stop_reason") for r in measured]
    out = dict(middle)
    other = [x for x in reasons if x != "converged"]
    if not other:
        out["stop_reason"] = "converged"
    else:
        common = max(set(other), key=other.count)
        out["stop_reason"] = f"{common} ({len(other)} of {len(reasons)} processes)"
    return out


def note(row: dict[str, Any], fmt: Any) -> str | None:
    """The row's "K processes" text with the range of the per-process medians per event, or
    None for a single process; ``fmt`` formats nanoseconds."""
    p = row.get("processes")
    if not p:
        return None
    failed = f", {p['failed']} failed" if p["failed"] else ""
    values = p.get("per_event_median_ns") or []
    if len(values) < 2:
        return f"{p['measured']} of {p['of']} processes measured{failed}"
    conf = (row.get("stats") or {}).get("confidence")
    shown = f", {conf:.0%} CI" if isinstance(conf, int | float) else ""
    return (
        f"{p['measured']} processes{failed}: median of medians, range {fmt(min(values))}–{fmt(max(values))}"
        f"/event{shown}"
    )


LEGEND = (
    "K processes (bench --repeat K): per event = median of the K per-process medians; range = "
    "their min–max (an order-statistic CI of the median, confidence 1 - 2^(1-K)); p90/p99 = "
    "median of each process's own, shown only where every process has enough samples (samples "
    "are not pooled); one-off costs: medians over the processes; memory: the median process's; "
    "agreement: the worst verdict"
)


def any_combined(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether a row stands for several processes (the legend is then shown)."""
    return any(r.get("processes") for r in rows)
