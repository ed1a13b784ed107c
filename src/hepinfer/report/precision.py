"""The precision scan of a validate report (``report["precision_scan"]``): a table and a plot.

Built from the report's dict only. The plot shows, per total width, the physics impact (the
flip fraction, with the threshold) and the largest difference from the float model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.table import Table


def _num(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def scan_table(scan: dict[str, Any]) -> Table:
    """One row per width: type, max |diff|, fraction within tolerance, physics, impact."""
    rec = scan.get("recommended")
    title = (
        f"precision scan: {scan['backend']} vs float {scan['reference']} "
        f"(integer bits {scan['integer_bits']}: {scan['integer_from']})"
    )
    table = Table(title=title)
    for col in ("type", "max |diff|", "within tol", "AUC (float)", "impact", ""):
        table.add_column(col, justify="left" if col in ("type", "") else "right")
    for row in scan["widths"]:
        if "error" in row:
            table.add_row(row["type"], "-", "-", "-", "-", f"[red]error[/red]: {row['error']}")
            continue
        auc = "-"
        if "auc" in row:
            auc = f"{row['auc']:.4f} ({row['auc_reference']:.4f})"
        mark = "recommended" if rec and rec["width"] == row["width"] else ""
        if row.get("nonfinite"):
            mark = f"{row['nonfinite']} NaN/Inf " + mark
        table.add_row(
            row["type"],
            _num(row.get("max_abs"), ".3g"),
            _num(row.get("fraction_within"), ".4f"),
            auc,
            _num(row.get("impact"), ".4f"),
            mark,
        )
    table.caption = (
        f"impact: {scan['impact']} (threshold {scan['threshold']}); tolerance "
        f"rtol {scan['tolerance']['rtol']}, atol {scan['tolerance']['atol']}; "
        + (f"recommended: {rec['type']}" if rec else "no width stays below the threshold")
        + f"; timings are {scan['timing_kind']}"
    )
    return table


def scan_plot(scan: dict[str, Any], path: Path) -> Path:
    """Impact and max |diff| vs total width, the threshold and the recommendation; a PNG."""
    from hepinfer.report.plots import style

    rows = [r for r in scan["widths"] if "error" not in r]
    with style():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 7.5), layout="constrained")
        ax = fig.add_subplot()
        widths = [r["width"] for r in rows]
        ax.plot(widths, [max(r["impact"], 1e-6) for r in rows], "o-", label=f"impact ({scan['impact']})")
        ax.plot(widths, [max(r["max_abs"], 1e-9) for r in rows], "s--", label="max |fixed - float|")
        ax.axhline(scan["threshold"], color="grey", linestyle=":", label=f"threshold {scan['threshold']}")
        rec = scan.get("recommended")
        if rec:
            ax.axvline(rec["width"], color="green", alpha=0.5, label=f"recommended {rec['type']}")
        ax.set_yscale("log")
        ax.set_xlabel(f"total width W of ap_fixed<W,{scan['integer_bits']}> (bits)")
        ax.set_ylabel("impact / difference")
        ax.legend(fontsize="small")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    return path
