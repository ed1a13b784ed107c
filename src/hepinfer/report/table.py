"""The bench tables, built only from result records: the measurements and the one-off costs.

The cells they share with the other reports live in ``cells`` (durations, labels),
``verdicts`` (agreement), ``minimum`` (memory against the graph-level minimum) and
``speedups``; the validate report's tables in ``validate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.report import data, processes
from hepinfer.report.cells import fmt_ns, label, p99_cell
from hepinfer.report.minimum import (
    memory_cell,
    minimum_legend,
)
from hepinfer.report.speedups import speedups
from hepinfer.report.verdicts import (
    FAST_BUT_DIFFERENT_CAPTION,
    agreement_cell,
    flag,
)

BENCH_COLUMNS = (
    "backend",
    "batch",
    "threads",
    "per event",
    "p99/event",
    "events/s (median)",
    "GFLOP/s (median)",
    "speed-up",
    "memory (x graph min)",
    "agreement",
    "notes",
)


def bench_table(records: Sequence[dict[str, Any]], title: str = "") -> Table:
    """Per-event median and p99, median-based throughput, speed-up vs the reference, agreement.

    The K processes of a ``bench --repeat K`` run are one row (``report.processes``).
    """
    records = processes.combine(records)
    table = Table(title=escape(title) if title else None, caption=FAST_BUT_DIFFERENT_CAPTION)
    show_model = len({r["key"]["model"] for r in records}) > 1
    for col in ["!", *(["model"] if show_model else []), *BENCH_COLUMNS]:
        left = col in ("model", "backend", "agreement", "notes")
        table.add_column(col, justify="center" if col == "!" else "left" if left else "right")
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
                "",
                *cells,
                *["-"] * 7,
                f"[red]error[/red] ({err['phase']}): {escape(err['message'])}",
            )
            continue
        s = r["stats"]
        agreement = r.get("agreement") or {}
        up = ups.get(r["record_id"])
        table.add_row(
            flag(agreement, up),
            *cells,
            fmt_ns(s["per_event_median_ns"]),
            p99_cell(s),
            f"{s['throughput_eps']:.3g}",
            f"{s['gflops']:.3g}" if "gflops" in s else "-",
            f"{up:.2f}x" if up else "-",
            memory_cell(r.get("memory") or {}),
            agreement_cell(agreement, r),
            escape("; ".join(bench_notes(r))),
        )
    legend = [processes.LEGEND] if processes.any_combined(records) else []
    table.caption = "\n".join([FAST_BUT_DIFFERENT_CAPTION, *minimum_legend(records), *legend])
    return table


def bench_notes(r: dict[str, Any]) -> list[str]:
    """What a bench row's figure is of, and where it is not to be trusted (noise, timer cost,
    no convergence); the backend's own loop and the processes of a combined row beside it."""
    s = r["stats"]
    notes = []
    kind = ((r.get("backend") or {}).get("settings") or {}).get("timing_kind")
    if kind:  # what the time is of (hls4ml: an emulator's CPU time, not the FPGA's latency)
        notes.append(str(kind))
    if s.get("noisy"):
        notes.append("noisy (IQR/median > 10%)")
    overhead = r["timing"].get("timer_overhead_ns") or 0.0
    if overhead and s["median_ns"] < 50 * overhead:
        notes.append(f"call within 50x of the timer's own cost ({overhead:.0f} ns)")
    if r["timing"].get("stop_reason") != "converged":
        notes.append(f"stopped: {r['timing'].get('stop_reason')}")
    native = s.get("native")
    if native:  # the backend's own loop (SOFIE's C++ loop): recorded beside the shown figure
        notes.append(
            f"shown: Python call; own C++ loop {fmt_ns(native['per_event_median_ns'])}/event "
            f"(call/loop {s['median_ns'] / native['median_ns']:.2f})"
            if native.get("median_ns")
            else "shown: Python call"
        )
    several = processes.note(r, fmt_ns)
    if several:
        notes.append(several)
    return notes


def one_off_table(records: Sequence[dict[str, Any]], title: str = "one-off costs") -> Table:
    """Import, conversion (parent), load, compilation (worker), first call per configuration."""
    table = Table(title=escape(title) if title else None, caption=escape(data.ONE_OFF_LEGEND))
    for col in ("backend", "batch", "threads", *data.ONE_OFF_HEADERS):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in data.ok(processes.combine(records)):
        k = r["key"]
        table.add_row(escape(label(r)), str(k["batch"]), str(k["threads"]), *data.one_off_cells(r))
    return table
