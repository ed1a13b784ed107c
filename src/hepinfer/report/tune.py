"""The tune search as a table and a Markdown section, from the deploy document (plain data).

Imports nothing of hepinfer.runner or hepinfer.backends: the document ``hepinfer tune`` writes
(``deploy.json``) holds everything shown here: each round's timing and candidates, what was
cut and why, the final's tests and the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.report.cells import fmt_ns

MiB = 1024.0 * 1024.0


def fmt_figure(value: float | None, unit: str) -> str:
    """A candidate's figure in its unit: ns per event, events/s or bytes."""
    if value is None:
        return "-"
    if unit.startswith("ns/event"):
        return f"{fmt_ns(value)}/event" + (" (median)" if "median" in unit else "")
    if unit == "events/s":
        return f"{value:.4g} events/s"
    if unit == "bytes":
        return f"{value / MiB:.1f} MiB"
    return f"{value:.4g} {unit}"


def search_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """One row per candidate per round: round, timing, candidate, figure, kept/cut, why."""
    rows = []
    for rnd in doc["search"]["rounds"]:
        name = "final" if rnd["final"] else str(rnd["round"])
        timing = f"{rnd['max_time_s']:.3g} s" + (f" x {rnd['repeats']}" if rnd["repeats"] > 1 else "")
        for c in rnd["candidates"]:
            rows.append(
                [
                    name,
                    timing,
                    c["candidate"],
                    fmt_figure(c["figure"], c["unit"]),
                    c["status"],
                    c["reason"] or "",
                ]
            )
    return rows


_HEADERS = ("round", "timing", "candidate", "figure", "", "why cut")


def search_table(doc: Mapping[str, Any]) -> Table:
    """The search as a rich table: candidates per round, what was cut and why."""
    s = doc["search"]
    title = (
        f"hepinfer tune: {doc['model'].get('name')} by {doc['objective']} "
        f"({s['candidates']} candidates, {s['spent_s']:.0f} of {s['budget_s']:.0f} s)"
    )
    table = Table(title=escape(title))
    for h in _HEADERS:
        table.add_column(h, justify="right" if h == "figure" else "left")
    for row in search_rows(doc):
        table.add_row(*(escape(c) for c in row))  # labels hold [options]
    return table


def decision_lines(doc: Mapping[str, Any]) -> list[str]:
    """The decision in sentences: winner or tie, the tests, what to expect, where it ran."""
    e = doc["expected"]
    test = doc["test"]
    lines = []
    if doc["decision"] == "winner":
        lines.append(f"winner: {doc['label']}")
    else:
        names = ", ".join(t["label"] for t in doc["ties"])
        lines.append(f"tie: {names}; deploy.json holds the leanest, {doc['label']}")
    if test.get("note"):
        lines.append(f"  {test['note']}")
    for t in test["tests"]:
        raw = f"p = {t['p_raw']:.2g}" if t["p_raw"] is not None else ("yes" if t["raw_significant"] else "no")
        lines.append(
            f"  vs {t['against']}: per-process p = {t['p_process']:.2g} ({t['processes'][0]} vs "
            f"{t['processes'][1]} processes), {t['raw_test']}: {raw}, change {100 * t['change']:.1f}%"
            f" -> {'beats it' if t['beats'] else 'not significantly better'}"
            f" (alpha {test['alpha']:g}, min change {100 * test['min_change']:.0f}%)"
        )
    lo, hi = e["median_ci_ns"]
    p99 = (
        f"p99 {fmt_ns(e['p99_ns'])} [{fmt_ns(e['p99_ci_ns'][0])}, {fmt_ns(e['p99_ci_ns'][1])}]"
        if e.get("p99_ns") is not None
        else f"p99 not given ({e.get('p99_note')})"
    )
    lines.append(
        f"  expected at batch {doc['batch']}, {doc['threads']} thread(s): median {fmt_ns(e['median_ns'])} "
        f"[{fmt_ns(lo)}, {fmt_ns(hi)}] per call, {p99}; {e['sustained_eps']:.4g} events/s sustained"
    )
    mem = doc["memory"]
    if mem.get("peak_bytes"):
        lines.append(
            f"  peak RSS {mem['peak_bytes'] / MiB:.1f} MiB; "
            f"agreement {(doc.get('agreement') or {}).get('verdict')}"
        )
    return lines


def markdown_section(doc: Mapping[str, Any]) -> str:
    """The search and the decision as a Markdown section (for report pages)."""

    def cell(v: str) -> str:
        return v.replace("|", "\\|")

    out = [f"## Tuning {doc['model'].get('name')} by {doc['objective']}", ""]
    out += ["| " + " | ".join(h or "kept/cut" for h in _HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in search_rows(doc)]
    out += ["", *[f"- {line.strip()}" for line in decision_lines(doc)], ""]
    return "\n".join(out)
