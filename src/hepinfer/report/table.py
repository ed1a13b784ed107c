"""The bench table, built only from result records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

MARKS = {
    "identical": "identical",
    "within tolerance": "within tol",
    "different": "DIFFERENT",
    "reference": "reference",
    "unknown": "unknown",
}


def fmt_ns(ns: float | None) -> str:
    """A duration in the unit that keeps 3 significant digits readable."""
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def label(record: dict[str, Any]) -> str:
    """Backend with its non-default options."""
    key = record["key"]
    opts = ",".join(f"{k}={v}" for k, v in sorted(key["options"].items()))
    return f"{key['backend']}[{opts}]" if opts else key["backend"]


def speedups(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Reference median / record median at the same model, batch and threads, by record id."""
    ref_median: dict[tuple[Any, ...], float] = {}
    for r in records:
        if r["status"] == "ok" and (r.get("agreement") or {}).get("verdict") == "reference":
            k = r["key"]
            ref_median[(k["model"], k["batch"])] = r["stats"]["median_ns"]
    for r in records:
        k = r["key"]
        ref_backend = r["model"].get("reference_backend")
        if r["status"] == "ok" and k["backend"] == ref_backend and not k["options"]:
            ref_median[(k["model"], k["batch"], k["threads"])] = r["stats"]["median_ns"]
    out: dict[str, float | None] = {}
    for r in records:
        k = r["key"]
        if r["status"] != "ok":
            out[r["record_id"]] = None
            continue
        base = ref_median.get((k["model"], k["batch"], k["threads"])) or ref_median.get(
            (k["model"], k["batch"])
        )
        out[r["record_id"]] = base / r["stats"]["median_ns"] if base else None
    return out


def bench_table(records: Sequence[dict[str, Any]], title: str = "") -> Table:
    """Per-event median and p99, throughput, speed-up vs the reference, agreement."""
    table = Table(title=escape(title) if title else None)
    models = {r["key"]["model"] for r in records}
    show_model = len(models) > 1
    columns = [
        "backend",
        "batch",
        "threads",
        "per event",
        "p99/event",
        "events/s",
        "speed-up",
        "agreement",
        "notes",
    ]
    for col in (["model"] if show_model else []) + columns:
        table.add_column(
            col, justify="left" if col in ("model", "backend", "agreement", "notes") else "right"
        )
    ups = speedups(records)
    for r in records:
        k = r["key"]
        # Model names, options and messages come from users' files: never read them as markup.
        cells = ([escape(k["model"])] if show_model else []) + [
            escape(label(r)),
            str(k["batch"]),
            str(k["threads"]),
        ]
        if r["status"] != "ok":
            err = r["error"]
            table.add_row(
                *cells,
                "-",
                "-",
                "-",
                "-",
                "-",
                f"[red]error[/red] ({err['phase']}): {escape(err['message'])}",
            )
            continue
        s = r["stats"]
        agreement = r.get("agreement") or {}
        verdict = MARKS.get(agreement.get("verdict", "unknown"), "?")
        if verdict == "DIFFERENT":
            verdict = f"[red]DIFFERENT[/red] (max abs {_worst_abs(agreement):.2g})"
        notes = []
        if s.get("noisy"):
            notes.append("noisy (IQR/median > 10%)")
        overhead = r["timing"].get("timer_overhead_ns") or 0.0
        if overhead and s["median_ns"] < 50 * overhead:
            notes.append(f"call within 50x of the timer's own cost ({overhead:.0f} ns)")
        if r["timing"].get("stop_reason") != "converged":
            notes.append(f"stopped: {r['timing'].get('stop_reason')}")
        up = ups.get(r["record_id"])
        table.add_row(
            *cells,
            fmt_ns(s["per_event_median_ns"]),
            fmt_ns(s["per_event_p99_ns"]),
            f"{s['throughput_eps']:.3g}",
            f"{up:.2f}x" if up else "-",
            verdict,
            escape("; ".join(notes)),
        )
    return table


def _worst_abs(agreement: dict[str, Any]) -> float:
    return max((o.get("max_abs", float("inf")) for o in agreement.get("outputs", {}).values()), default=0.0)
