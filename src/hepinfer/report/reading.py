"""The table of ``hepinfer bench --data``: disk-inclusive timing beside inference alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.report.cells import fmt_ns, label

READING_COLUMNS = (
    "backend",
    "batch",
    "thr",
    "pass",
    "rows",
    "read",
    "prep",
    "infer",
    "total",
    "infer med",
    "infer only",
    "rows/s",
)


def data_table(records: Sequence[dict[str, Any]]) -> Table:
    """The disk-inclusive timings (the records' ``data`` section) next to the inference-only median."""
    t = Table(
        title="reading from disk: time per row (event, or jet for jet models); read, prep, "
        "infer and total are means over the pass, 'infer med' and 'infer only' medians"
    )
    for col in READING_COLUMNS:
        t.add_column(col, justify="left" if col in ("backend", "pass") else "right")
    for r in records:
        d = r.get("data")
        if r.get("status") != "ok" or not d:
            continue
        k = r["key"]
        only = r["stats"]["median_ns"] / k["batch"] if r.get("stats") else None
        for p in d["passes"]:
            pr = p["per_row_ns"]
            t.add_row(
                escape(label(r)),
                str(k["batch"]),
                str(k["threads"]),
                p["pass"],
                str(p["rows"]),
                fmt_ns(pr["read"]),
                fmt_ns(pr["preprocess"]),
                fmt_ns(pr["inference"]),
                fmt_ns(pr["total"]),
                fmt_ns(p["inference_median_ns"] / k["batch"]),
                fmt_ns(only),
                f"{1e9 / pr['total']:.3g}",
            )
    return t
