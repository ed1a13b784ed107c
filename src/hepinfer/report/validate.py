"""The tables of a validate report: agreement with the reference, reproducibility, physics parity."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.measure.agreement import EQUAL_NOT_BITWISE
from hepinfer.report.verdicts import not_bitwise_text

_ANSWER = {"yes": "[green]yes[/green]", "no": "[red]no[/red]", "n/a": "n/a"}
REPRO_CHECKS = (
    ("repeat", "same input twice"),
    ("rerun", "2nd process"),
    ("threads", "threads"),
    ("batch_invariance", "batch invariance"),
    ("exporter", "exporters"),
    ("isa", "ISA caps"),
)
_AGREEMENT_COLUMNS = (
    "backend",
    "verdict",
    "max abs",
    "max rel",
    "ULP med/max (above atol) unit",
    "within tol",
    "NaN/Inf",
    "argmax flips",
)
_PHYSICS_COLUMNS = (
    "backend",
    "KS sig",
    "KS bkg",
    "AUC ref",
    "AUC",
    "ΔAUC",
    "sel. flips @1% bkg",
    "NaN scores",
)
_SHOWN_VERDICT = {
    "different": "[red]different[/red]",
    "identical": "[green]identical[/green] (bitwise)",
    EQUAL_NOT_BITWISE: "[yellow]equal values, not bitwise[/yellow]",
}


def validate_tables(report: dict[str, Any]) -> list[Table]:
    """Agreement, reproducibility and physics parity tables of a validate report."""
    agree = agreement_table(report)
    repro = reproducibility_table(report)
    tables = [agree, repro] if agree.row_count else [repro]
    if any("physics" in b for b in report["backends"]):
        tables.append(physics_table(report))
    return tables


# --- agreement with the reference -----------------------------------------------------------


def agreement_table(report: dict[str, Any]) -> Table:
    """One row per compared backend (the reference only where it failed or output NaN/Inf);
    the caption lists each backend's worst element, errors and non-finite outputs."""
    tol = report["tolerance"]
    # A model's label holds its parameters in brackets ("gnn_tau[k=3]"): never read as markup.
    agree = Table(
        title=escape(
            f"hepinfer validate: {report['model']} vs {report['reference']} "
            f"({report['precision']}: rtol {tol['rtol']:g}, atol {tol['atol']:g})"
        )
    )
    for col in _AGREEMENT_COLUMNS:
        agree.add_column(col, overflow="fold", no_wrap=col == "verdict")
    worst_lines: list[str] = []
    for b in report["backends"]:
        worst_lines += _backend_lines(b)
        row = _agreement_row(b)
        if row is not None:
            agree.add_row(*row)
    if worst_lines:
        agree.caption = "\n".join(worst_lines)
    return agree


def _backend_lines(b: dict[str, Any]) -> list[str]:
    """The caption's lines for one backend: its NaN/Inf, a late error, its worst element."""
    lines = []
    own = sum(b.get("nonfinite", {}).values())
    if own:
        sets = ", ".join(f"{n}: {c}" for n, c in b["nonfinite"].items())
        lines.append(f"{escape(b['backend'])} outputs NaN/Inf ({sets})")
    if b.get("error") and b.get("verdict") != "error":  # died after some sets: those are kept
        failed = ", ".join(b.get("failed_sets", {}))
        lines.append(escape(f"{b['backend']}: {b['error']}; not compared: {failed}"))
    if b.get("verdict") == "error":
        lines.append(f"{escape(b['backend'])}: {escape(str(b.get('error', '')))}")
    elif b.get("role") != "reference":  # the reference has no worst element of its own
        if b.get("verdict", "unknown") == EQUAL_NOT_BITWISE:
            why = not_bitwise_text(b)
            where = (b.get("not_bitwise") or {}).get("inputs", "")
            lines.append(escape(f"{b['backend']} equal values, not bitwise: {where} {why}".rstrip()))
        elif b.get("worst"):
            lines.append(f"{escape(b['backend'])} worst: {escape(_loc(b['worst']))}")
    return lines


def _agreement_row(b: dict[str, Any]) -> list[str] | None:
    """The agreement row of one backend (None: the reference, healthy, has none)."""
    name = escape(b["backend"])
    if b.get("role") == "reference":
        own = sum(b.get("nonfinite", {}).values())
        if b.get("verdict") == "error":
            return [name, "[red]error[/red] (reference)", "", "", "", "", "", ""]
        return [name, "reference", "", "", "", "", f"[red]{own}[/red]", ""] if own else None
    if b.get("verdict") == "error":
        return [name, "[red]error[/red]", "", "", "", "", "", ""]
    sets = b.get("sets", {})
    outs = [o for s in sets.values() for o in s.get("outputs", {}).values()]
    if not outs:  # nothing was compared: no figures that read like a pass
        why = b.get("reason") or b.get("error") or "no output was compared"
        return [name, f"[yellow]not run[/yellow] ({escape(str(why))})", *["-"] * 6]
    verdict = b.get("verdict", "unknown")
    within = min((o.get("fraction_within", 1.0) for o in outs), default=1.0)
    med = max((o.get("ulp_median", 0.0) for o in outs), default=0.0)
    flips = [o["argmax_flips"] for o in outs if "argmax_flips" in o]
    nonfinite = sum(o.get("nan", 0) + o.get("inf", 0) for o in outs)
    units = sorted({o["ulp_unit"] for o in outs if "ulp_unit" in o})
    unit = b.get("ulp_unit") or "/".join(units) or "(reference dtype)"
    return [
        name,
        _SHOWN_VERDICT.get(verdict, verdict),
        f"{_outputs_max(sets, 'max_abs'):.3g}",
        f"{_outputs_max(sets, 'max_rel'):.3g}",
        f"{med:g}/{int(_outputs_max(sets, 'ulp_max'))}{_above_atol(sets)} {unit}",
        f"{100 * within:.6g}%",
        f"[red]{nonfinite}[/red]" if nonfinite else "0",
        f"{max(flips):.3%}" if flips else "-",
    ]


def _loc(worst: dict[str, Any]) -> str:
    if not worst:
        return ""
    if worst.get("reason"):
        return f"{worst.get('inputs', '')} {worst.get('output', '')}: {worst['reason']}".strip()
    where = [worst.get("inputs") or worst.get("where") or "", str(worst.get("output", ""))]
    if worst.get("event") is not None:
        where.append(f"event {worst['event']}")
    if worst.get("index"):
        where.append(f"[{','.join(map(str, worst['index']))}]")
    text = " ".join(w for w in where if w)
    if "ref" in worst:
        text += f": ref {worst['ref']:.6g} got {worst['got']:.6g}"
    return text


def _outputs_max(sets: dict[str, Any], field: str) -> float:
    return max((o.get(field, 0) for s in sets.values() for o in s.get("outputs", {}).values()), default=0)


def _above_atol(sets: dict[str, Any]) -> str:
    """ " (N)": the largest ULP over the elements above atol, where the outputs counted it."""
    above = [
        o["ulp_max_above_atol"]
        for s in sets.values()
        for o in s.get("outputs", {}).values()
        if "ulp_max_above_atol" in o
    ]
    return f" ({max(above)})" if above else ""


# --- reproducibility --------------------------------------------------------------------------


def reproducibility_table(report: dict[str, Any]) -> Table:
    """Bitwise equal under each check (REPRO_CHECKS), per backend; notes and reasons below."""
    repro = Table(title="reproducibility: bitwise equal? (worst difference)")
    repro.add_column("backend", overflow="fold")
    for _, head in REPRO_CHECKS:
        repro.add_column(head, overflow="fold")
    notes: list[str] = []
    for b in report["backends"]:
        r = b.get("reproducibility", {})
        cells = []
        for key, _ in REPRO_CHECKS:
            c = r.get(key)
            cells.append("-" if c is None else _repro_cell(c))
            notes += [n for n in _check_notes(c) if n not in notes]
        name = escape(b["backend"]) + (" (reference)" if b.get("role") == "reference" else "")
        repro.add_row(name, *cells)
    if report.get("physics_skipped"):
        notes.append(f"physics parity skipped: {report['physics_skipped']}")
    if notes:
        repro.caption = escape("; ".join(notes))
    return repro


def _repro_cell(c: dict[str, Any]) -> str:
    """yes / no (with the difference, or why equal values are not bitwise) / n/a."""
    text = _ANSWER.get(c["answer"], c["answer"])
    if c["answer"] == "no" and c.get("values_equal"):
        why = "; ".join(c.get("not_bitwise", {}).values())
        text += escape(f" (equal values, not bitwise: {why})")
    elif c["answer"] == "no":
        unit = f" {c['ulp_unit']}" if c.get("ulp_unit") else ""
        text += f" ({c.get('max_abs', 0):.2g}, {c.get('ulp_max', 0)} ULP{unit})"
    if c.get("instead"):
        text += " (" + ", ".join(f"{k} {v}" for k, v in c["instead"].items()) + ")"
    return text


def _check_notes(c: dict[str, Any] | None) -> list[str]:
    """A check's note, and why it did not apply (an n/a answer's reason), for the caption."""
    if c is None:
        return []
    notes = [c["note"]] if c.get("note") else []
    if c["answer"] == "n/a" and c.get("reason") and c["reason"] not in notes:
        notes.append(c["reason"])
    return notes


# --- physics parity ----------------------------------------------------------------------------


def physics_table(report: dict[str, Any]) -> Table:
    """KS distances, AUCs and selection flips of each backend's scores against the reference's."""
    events = report.get("physics_events", {})
    phys = Table(
        title=f"physics parity: score = {report.get('physics_score')}; "
        f"{events.get('signal', 0)} signal + {events.get('background', 0)} background events"
    )
    for col in _PHYSICS_COLUMNS:
        phys.add_column(col, overflow="fold")
    for b in report["backends"]:
        p = b.get("physics")
        if p is None:
            continue
        if "error" in p:
            phys.add_row(escape(b["backend"]), f"[red]{escape(p['error'])}[/red]", "", "", "", "", "", "")
            continue
        phys.add_row(
            escape(b["backend"]),
            f"{p['ks_signal']:.3g}",
            f"{p['ks_background']:.3g}",
            f"{p['auc_reference']:.5f}",
            f"{p['auc']:.5f}",
            f"{p['auc_difference']:+.2g}",
            f"{p['selection_flips']} ({p['selection_flip_fraction']:.3%})",
            str(p["nonfinite_scores"]),
        )
    return phys
