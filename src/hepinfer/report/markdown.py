"""The report as Markdown (tables, plots linked) and as CSV (one row per configuration)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepinfer.measure.agreement import EQUAL_NOT_BITWISE
from hepinfer.report import data, processes
from hepinfer.report.cells import fmt_ns
from hepinfer.report.verdicts import not_bitwise_text


def _cell(value: Any) -> str:
    """A Markdown table cell: pipes and newlines would break the table."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def render(
    records: Sequence[dict[str, Any]],
    plots_dir: Path | None = None,
    base: Path | None = None,
    figs: Mapping[str, Sequence[tuple[str, str, Any]]] | None = None,
) -> str:
    """The Markdown text; plot images are linked from ``plots_dir`` when given (only the
    plots in ``figs`` when given, so that a stale file of an earlier report is not linked)."""
    lines = ["# hepinfer report", "", f"{len(records)} configurations.", ""]
    ups = data.speedup_of(records)
    for model, rs in data.by_model(records).items():
        lines += [f"## {_cell(model)}", ""]
        lines += _recommendation_lines(rs)
        lines.append("")
        if plots_dir is not None:
            drawn = None if figs is None else {name for name, _, _ in figs.get(model, [])}
            lines += _plot_lines(model, rs, plots_dir, base, drawn)
            lines.append("")
        lines += _table(_CONFIGURATION_HEADERS, [_configuration_row(r, ups) for r in rs])
        lines.append("")
        if processes.any_combined(rs):
            lines += [processes.LEGEND, ""]
        lines += _one_off_lines(rs)
    lines += ["## Environment", ""]
    for env in data.environments(records):
        lines += _table(
            ["", ""],
            [[k, env[k]] for k in ("host", "os", "python", "cpu", "cores", "memory")]
            + [[f"version: {n}", v] for n, v in sorted(env["versions"].items())],
        )
        lines.append("")
    return "\n".join(lines)


def _recommendation_lines(rs: Sequence[dict[str, Any]]) -> list[str]:
    """The model's fastest configurations that agree, or why there is none."""
    lines = []
    rec = data.recommend(rs)
    for what, r in (
        ("lowest latency at batch 1, 1 thread", rec["latency"]),
        ("highest throughput", rec["throughput"]),
    ):
        if r is None:
            measured = data.ok(rs)
            if not measured:
                why = f"none of the {len(rs)} configurations succeeded (see the failures below)"
            elif not any(data.agrees(m) for m in measured):
                why = "none agrees with the reference"
            else:
                why = "no configuration that agrees with the reference was measured there"
            lines.append(f"- **{what}**: {why}")
        else:
            lines.append(
                f"- **{what}**: {_cell(data.config_label(r))} at batch {r['key']['batch']}, "
                f"{r['key']['threads']} thread(s): {fmt_ns(r['stats']['per_event_median_ns'])}"
                f" per event, {r['stats']['throughput_eps']:.3g} events/s (median-based)"
            )
    return lines


def _plot_lines(
    model: str, rs: Sequence[dict[str, Any]], plots_dir: Path, base: Path | None, drawn: set[str] | None
) -> list[str]:
    """Links to the model's plots in ``plots_dir`` (those in ``drawn`` when given), and the
    line naming the plots that were not drawn."""
    from hepinfer.report.plots import PLOT_KINDS, TITLES, not_drawn_line

    lines = []
    for kind in PLOT_KINDS:
        name = f"{data.safe_id(model)}_{kind}"
        png = plots_dir / f"{name}.png"
        if png.exists() and (drawn is None or name in drawn):
            link = png if base is None else Path(_relative(png, base))
            lines.append(f"![{TITLES[kind]}]({link.as_posix()})")
    skipped = not_drawn_line(rs)
    if skipped:
        lines += ["", skipped]
    return lines


_CONFIGURATION_HEADERS = (
    "configuration",
    "batch",
    "threads",
    "per event",
    "events/s (median)",
    "speed-up",
    "agreement",
    "notes",
)


def _configuration_row(r: dict[str, Any], ups: Mapping[str, float | None]) -> list[Any]:
    """One configuration's row: its figures and agreement, or the error it failed with."""
    k = r["key"]
    if r.get("status") != "ok":
        error = r.get("error") or {}
        failed = f"error in {error.get('phase', '?')}: {error.get('message', '?')}"
        return [data.config_label(r), k["batch"], k["threads"], "-", "-", "-", "-", failed]
    s = r["stats"]
    up = ups.get(r["record_id"])
    v = data.verdict(r)
    if v == EQUAL_NOT_BITWISE:
        v = f"{v} ({not_bitwise_text(r.get('agreement') or {})})"
    return [
        data.config_label(r),
        k["batch"],
        k["threads"],
        fmt_ns(s["per_event_median_ns"]),
        f"{s['throughput_eps']:.3g}",
        f"{up:.2f}x" if up else "-",
        f"**{v}**" if v == "different" else v,
        processes.note(r, fmt_ns) or "",
    ]


def _one_off_lines(rs: Sequence[dict[str, Any]]) -> list[str]:
    """The one-off costs of the configurations that ran: the same cells and legend as the HTML page's."""
    measured = data.ok(rs)
    if not measured:
        return []
    rows = [
        [data.config_label(r), r["key"]["batch"], r["key"]["threads"], *data.one_off_cells(r)]
        for r in measured
    ]
    return [
        "### One-off costs",
        "",
        *_table(["configuration", "batch", "threads", *data.ONE_OFF_HEADERS], rows),
        "",
        data.ONE_OFF_LEGEND,
        "",
    ]


def _relative(path: Path, base: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), base.resolve())


def write(
    records: Sequence[dict[str, Any]],
    path: Path,
    plots_dir: Path | None = None,
    figs: Mapping[str, Sequence[tuple[str, str, Any]]] | None = None,
) -> Path:
    """Write the Markdown report (plot links relative to it; ``figs``: the plots drawn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(records, plots_dir, base=path.parent, figs=figs), encoding="utf-8")
    return path


def write_csv(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """One row per configuration with its statistics, speed-up, agreement, memory and one-off costs."""
    rows = data.rows(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["model"])
        writer.writeheader()
        writer.writerows(rows)
    return path
