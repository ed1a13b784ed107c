"""The ``hepinfer memory`` table, built only from memory records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.measure.memory import fmt_bytes
from hepinfer.report.minimum import minimum_legend, minimum_ratio, ratio_text


def memory_table(records: Sequence[dict[str, Any]], title: str = "") -> Table:
    """One row per (backend, batch): deltas, measured vs minimum, and the per-thread extras."""
    threads = max((r["key"]["threads"] for r in records), default=1)
    table = Table(title=escape(title) if title else None, caption="\n".join(minimum_legend(records)))
    cols = ["backend", "batch", "model", "inputs", "inference", "measured", "graph minimum", "x min"]
    if threads > 1:
        cols += ["+session", f"+thread shared (N={threads})", "+thread own session"]
    for c in cols:
        table.add_column(c, justify="left" if c == "backend" else "right")
    for r in records:
        k = r["key"]
        if r["status"] != "ok":
            table.add_row(
                escape(k["backend"]),
                str(k["batch"]),
                f"[red]error[/red] ({r['error']['phase']}): {escape(r['error']['message'])}",
                *[""] * (len(cols) - 3),
            )
            continue
        m = r["memory"]
        d = m["deltas"]
        mini = m.get("minimum") or {}
        row = [
            escape(k["backend"]),
            str(k["batch"]),
            fmt_bytes(d["model"]),
            fmt_bytes(d["inputs"]),
            fmt_bytes(d["inference"]),
            fmt_bytes(m["measured_bytes"]),
            fmt_bytes(mini.get("total_bytes")),
            ratio_text(minimum_ratio(m)),
        ]
        if threads > 1:
            s = r.get("sessions") or {}
            row += [
                fmt_bytes(s.get("session_bytes")),
                fmt_bytes(s.get("extra_per_thread_shared")),
                fmt_bytes(s.get("extra_per_thread_separate")),
            ]
        table.add_row(*row)
    return table
