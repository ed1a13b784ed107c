"""Cells every report prints alike: a duration, the p99 or why there is none, a backend's label."""

from __future__ import annotations

from typing import Any


def fmt_ns(ns: float | None) -> str:
    """A duration in the unit that keeps 3 significant digits readable."""
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= 0.9995 * scale:  # 999.6 ns reads "1 us", not "1e+03 ns"
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


# Fewest samples for which hepinfer gives a p99 (hepinfer.measure.stats.P99_MIN_N).
P99_MIN_N = 1000


def p99_cell(stats: dict[str, Any]) -> str:
    """The per-event p99, or why there is none: "n<1000" where too few samples were taken
    (also for records from before p99 was withheld), "—" where the record has none."""
    n = stats.get("n")
    if stats.get("p99_valid") is False or (n is not None and n < P99_MIN_N):
        return f"n<{P99_MIN_N}"
    value = stats.get("per_event_p99_ns")
    return "—" if value is None else fmt_ns(value)


def label(record: dict[str, Any]) -> str:
    """Backend with its non-default options."""
    key = record["key"]
    opts = ",".join(f"{k}={v}" for k, v in sorted(key["options"].items()))
    return f"{key['backend']}[{opts}]" if opts else key["backend"]
