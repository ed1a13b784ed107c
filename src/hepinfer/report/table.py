"""The bench table, built only from result records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from hepinfer.measure.agreement import EQUAL_NOT_BITWISE, ulp_unit_for

MARKS = {
    "identical": "identical",
    EQUAL_NOT_BITWISE: "equal, not bitwise",
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


def speedups(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Reference median / record median at the same model, batch and threads, by record id.

    The reference is the one the run's plan chose (``model.reference_key``), at the record's
    thread count where that was measured; records written before the key was stored fall back
    to the reference backend's default configuration at the same model and batch.
    """
    by_key = {_key_id(r["key"]): r for r in records if r["status"] == "ok"}
    out: dict[str, float | None] = {}
    legacy = []
    for r in records:
        ref = (r.get("model") or {}).get("reference_key")
        if r["status"] != "ok":
            out[r["record_id"]] = None
        elif ref is None:
            legacy.append(r)
        else:
            base = by_key.get(_key_id({**ref, "threads": r["key"]["threads"]})) or by_key.get(_key_id(ref))
            out[r["record_id"]] = base["stats"]["median_ns"] / r["stats"]["median_ns"] if base else None
    return {**out, **_legacy_speedups(records, legacy)}


def _key_id(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _legacy_speedups(
    records: Sequence[dict[str, Any]], legacy: Sequence[dict[str, Any]]
) -> dict[str, float | None]:
    """Speed-ups of records without ``model.reference_key``: the reference found by its backend."""
    if not legacy:
        return {}
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
    for r in legacy:
        k = r["key"]
        base = ref_median.get((k["model"], k["batch"], k["threads"])) or ref_median.get(
            (k["model"], k["batch"])
        )
        out[r["record_id"]] = base / r["stats"]["median_ns"] if base else None
    return out


def bench_table(records: Sequence[dict[str, Any]], title: str = "") -> Table:
    """Per-event median and p99, median-based throughput, speed-up vs the reference, agreement.

    The K processes of a ``bench --repeat K`` run are one row (``report.processes``).
    """
    from hepinfer.report.processes import LEGEND, any_combined, combine, note

    records = combine(records)
    table = Table(title=escape(title) if title else None, caption=FAST_BUT_DIFFERENT_CAPTION)
    models = {r["key"]["model"] for r in records}
    show_model = len(models) > 1
    columns = [
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
    ]
    for col in ["!", *(["model"] if show_model else []), *columns]:
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
        verdict = agreement_cell(agreement, r)
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
        several = note(r, fmt_ns)
        if several:
            notes.append(several)
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
            verdict,
            escape("; ".join(notes)),
        )
    legend = [LEGEND] if any_combined(records) else []
    table.caption = "\n".join([FAST_BUT_DIFFERENT_CAPTION, *minimum_legend(records), *legend])
    return table


def one_off_table(records: Sequence[dict[str, Any]], title: str = "one-off costs") -> Table:
    """Import, conversion (parent), load, compilation (worker), first call per configuration."""
    from hepinfer.report import data
    from hepinfer.report.processes import combine

    table = Table(title=escape(title) if title else None, caption=escape(data.ONE_OFF_LEGEND))
    for col in ("backend", "batch", "threads", *data.ONE_OFF_HEADERS):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in data.ok(combine(records)):
        k = r["key"]
        table.add_row(escape(label(r)), str(k["batch"]), str(k["threads"]), *data.one_off_cells(r))
    return table


FAST_BUT_DIFFERENT_CAPTION = (
    "!: [bold red]✗![/bold red] faster than the reference but its answers differ beyond "
    "tolerance; ✗ differs; ≈ within tolerance; (=) equal values, not bitwise; "
    "= bitwise identical (same dtype, shape and bytes) or the reference"
)


def flag(agreement: dict[str, Any], speedup: float | None) -> str:
    """The at-a-glance marker: fast-but-different stands out in red."""
    verdict = agreement.get("verdict")
    if verdict == "different":
        return "[bold red]✗![/bold red]" if speedup is not None and speedup > 1.0 else "[yellow]✗[/yellow]"
    if verdict == "within tolerance":
        return "≈"
    if verdict == EQUAL_NOT_BITWISE:
        return "(=)"
    if verdict in ("identical", "reference"):
        return "="
    return ""


def ulp_text(agreement: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    """The largest ULP distance with its unit ("3 ULP bfloat16"); "" when none was counted.

    Records from before the unit was stored counted in the reference's float type. Where the
    record's backend computes in another precision than the unit (a bench record of OpenVINO
    at bf16 counted in float32 ULPs), the text says so rather than pass one for the other.
    """
    outputs = [o for o in (agreement.get("outputs") or {}).values() if "ulp_max" in o]
    if not outputs:
        return ""
    worst = max(outputs, key=lambda o: o["ulp_max"])
    unit = worst.get("ulp_unit") or agreement.get("ulp_unit")
    text = f"{worst['ulp_max']} ULP {unit or '(reference dtype)'}"
    above = [o["ulp_max_above_atol"] for o in outputs if "ulp_max_above_atol" in o]
    if above:  # the elements that matter: the max is set by values near zero
        text += f" ({max(above)} above atol)"
    if record is not None:
        ran = ulp_unit_for(
            (record.get("key") or {}).get("options"), (record.get("backend") or {}).get("settings")
        )
        if ran is not None and ran != unit:
            text += f", backend ran {ran}"
    return text


def _above_atol(sets: dict[str, Any]) -> str:
    """ " (N)": the largest ULP over the elements above atol, where the outputs counted it."""
    above = [
        o["ulp_max_above_atol"]
        for s in sets.values()
        for o in s.get("outputs", {}).values()
        if "ulp_max_above_atol" in o
    ]
    return f" ({max(above)})" if above else ""


def not_bitwise_text(agreement: dict[str, Any]) -> str:
    """Why equal values are not bitwise identical: "y 3 signed zeros differ"."""
    reasons = agreement.get("not_bitwise") or {}
    return "; ".join(f"{n} {r}" for n, r in reasons.items() if n != "inputs")


def agreement_cell(agreement: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    """Verdict with the size and place of the worst difference when it matters."""
    verdict = agreement.get("verdict", "unknown")
    text = MARKS.get(verdict, "?")
    outputs = agreement.get("outputs", {}).values()
    ulp = max((o.get("ulp_max", 0) for o in outputs), default=0)
    nonfinite = sum(o.get("nan", 0) + o.get("inf", 0) for o in outputs)
    if verdict == EQUAL_NOT_BITWISE:
        why = not_bitwise_text(agreement)
        return f"{text} ({escape(why)})" if why else text
    if verdict == "within tolerance" and ulp:
        return f"{text} ({escape(ulp_text(agreement, record))})"
    if verdict != "different":
        return text
    parts = [f"max abs {_worst_abs(agreement):.2g}"]
    if nonfinite:
        parts.append(f"{nonfinite} NaN/Inf")
    worst = agreement.get("worst") or {}
    if worst.get("event") is not None:
        parts.append(f"{worst['output']} event {worst['event']}")
    return f"[red]DIFFERENT[/red] ({', '.join(parts)})"


def _worst_abs(agreement: dict[str, Any]) -> float:
    return max((o.get("max_abs", float("inf")) for o in agreement.get("outputs", {}).values()), default=0.0)


# --- validate ------------------------------------------------------------------------------------

_ANSWER = {"yes": "[green]yes[/green]", "no": "[red]no[/red]", "n/a": "n/a"}
REPRO_CHECKS = (
    ("repeat", "same input twice"),
    ("rerun", "2nd process"),
    ("threads", "threads"),
    ("batch_invariance", "batch invariance"),
    ("exporter", "exporters"),
    ("isa", "ISA caps"),
)


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


def validate_tables(report: dict[str, Any]) -> list[Table]:
    """Agreement, reproducibility and physics parity tables of a validate report."""
    tol = report["tolerance"]
    agree = Table(
        title=f"hepinfer validate: {report['model']} vs {report['reference']} "
        f"({report['precision']}: rtol {tol['rtol']:g}, atol {tol['atol']:g})"
    )
    for col in (
        "backend",
        "verdict",
        "max abs",
        "max rel",
        "ULP med/max (above atol) unit",
        "within tol",
        "NaN/Inf",
        "argmax flips",
    ):
        agree.add_column(col, overflow="fold", no_wrap=col == "verdict")
    worst_lines: list[str] = []
    for b in report["backends"]:
        own = sum(b.get("nonfinite", {}).values())
        if own:
            sets = ", ".join(f"{n}: {c}" for n, c in b["nonfinite"].items())
            worst_lines.append(f"{escape(b['backend'])} outputs NaN/Inf ({sets})")
        if b.get("error") and b.get("verdict") != "error":  # died after some sets: those are kept
            failed = ", ".join(b.get("failed_sets", {}))
            worst_lines.append(escape(f"{b['backend']}: {b['error']}; not compared: {failed}"))
        if b.get("role") == "reference":
            if b.get("verdict") == "error":
                agree.add_row(escape(b["backend"]), "[red]error[/red] (reference)", "", "", "", "", "", "")
                worst_lines.append(f"{escape(b['backend'])}: {escape(str(b.get('error', '')))}")
            elif own:
                agree.add_row(escape(b["backend"]), "reference", "", "", "", "", f"[red]{own}[/red]", "")
            continue
        if b.get("verdict") == "error":
            agree.add_row(escape(b["backend"]), "[red]error[/red]", "", "", "", "", "", "")
            worst_lines.append(f"{escape(b['backend'])}: {escape(str(b.get('error', '')))}")
            continue
        verdict = b.get("verdict", "unknown")
        if verdict == EQUAL_NOT_BITWISE:
            why = not_bitwise_text(b)
            where = (b.get("not_bitwise") or {}).get("inputs", "")
            worst_lines.append(escape(f"{b['backend']} equal values, not bitwise: {where} {why}".rstrip()))
        elif b.get("worst"):
            worst_lines.append(f"{escape(b['backend'])} worst: {escape(_loc(b['worst']))}")
        sets = b.get("sets", {})
        outs = [o for s in sets.values() for o in s.get("outputs", {}).values()]
        if not outs:  # nothing was compared: no figures that read like a pass
            why = b.get("reason") or b.get("error") or "no output was compared"
            agree.add_row(escape(b["backend"]), f"[yellow]not run[/yellow] ({escape(str(why))})", *["-"] * 6)
            continue
        within = min((o.get("fraction_within", 1.0) for o in outs), default=1.0)
        med = max((o.get("ulp_median", 0.0) for o in outs), default=0.0)
        flips = [o["argmax_flips"] for o in outs if "argmax_flips" in o]
        nonfinite = sum(o.get("nan", 0) + o.get("inf", 0) for o in outs)
        units = sorted({o["ulp_unit"] for o in outs if "ulp_unit" in o})
        unit = b.get("ulp_unit") or "/".join(units) or "(reference dtype)"
        shown = {
            "different": "[red]different[/red]",
            "identical": "[green]identical[/green] (bitwise)",
            EQUAL_NOT_BITWISE: "[yellow]equal values, not bitwise[/yellow]",
        }.get(verdict, verdict)
        agree.add_row(
            escape(b["backend"]),
            shown,
            f"{_outputs_max(sets, 'max_abs'):.3g}",
            f"{_outputs_max(sets, 'max_rel'):.3g}",
            f"{med:g}/{int(_outputs_max(sets, 'ulp_max'))}{_above_atol(sets)} {unit}",
            f"{100 * within:.6g}%",
            f"[red]{nonfinite}[/red]" if nonfinite else "0",
            f"{max(flips):.3%}" if flips else "-",
        )
    if worst_lines:
        agree.caption = "\n".join(worst_lines)
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
            if c is None:
                cells.append("-")
                continue
            text = _ANSWER.get(c["answer"], c["answer"])
            if c["answer"] == "no" and c.get("values_equal"):
                why = "; ".join(c.get("not_bitwise", {}).values())
                text += escape(f" (equal values, not bitwise: {why})")
            elif c["answer"] == "no":
                unit = f" {c['ulp_unit']}" if c.get("ulp_unit") else ""
                text += f" ({c.get('max_abs', 0):.2g}, {c.get('ulp_max', 0)} ULP{unit})"
            if c.get("instead"):
                text += " (" + ", ".join(f"{k} {v}" for k, v in c["instead"].items()) + ")"
            cells.append(text)
            if c.get("note") and c["note"] not in notes:
                notes.append(c["note"])
            if c["answer"] == "n/a" and c.get("reason") and c["reason"] not in notes:
                notes.append(c["reason"])
        label = escape(b["backend"]) + (" (reference)" if b.get("role") == "reference" else "")
        repro.add_row(label, *cells)
    if report.get("physics_skipped"):
        notes.append(f"physics parity skipped: {report['physics_skipped']}")
    if notes:
        repro.caption = escape("; ".join(notes))
    tables = [agree, repro] if agree.row_count else [repro]
    if any("physics" in b for b in report["backends"]):
        events = report.get("physics_events", {})
        phys = Table(
            title=f"physics parity: score = {report.get('physics_score')}; "
            f"{events.get('signal', 0)} signal + {events.get('background', 0)} background events"
        )
        for col in (
            "backend",
            "KS sig",
            "KS bkg",
            "AUC ref",
            "AUC",
            "ΔAUC",
            "sel. flips @1% bkg",
            "NaN scores",
        ):
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
        tables.append(phys)
    return tables


# --- memory against the graph-level minimum ---------------------------------------------------

BELOW_MINIMUM_MARK = "†"
MINIMUM_LEGEND = (
    "x min: measured / graph-level minimum, a bound on the ONNX graph (weights + peak live "
    "activations by the graph's liveness, no operator in place), not on a runtime's kernels"
)
BELOW_MINIMUM_NOTE = (
    f"{BELOW_MINIMUM_MARK}: below the graph-level minimum: fused or in-place kernels hold fewer "
    "live activations than the graph's liveness bound"
)


def minimum_ratio(memory: dict[str, Any]) -> float | None:
    """Measured / graph-level minimum, as the worker recorded it (None when unknown)."""
    ratio = (memory.get("minimum") or {}).get("ratio")
    return float(ratio) if isinstance(ratio, int | float) else None


def ratio_text(ratio: float | None) -> str:
    """ "1.7x", or "0.928x†" below the minimum (see BELOW_MINIMUM_NOTE); "-" when unknown."""
    if ratio is None:
        return "-"
    return f"{ratio:.3g}x" + (BELOW_MINIMUM_MARK if ratio < 1.0 else "")


def minimum_legend(records: Sequence[dict[str, Any]]) -> list[str]:
    """What the minimum is (always), and what a ratio below 1 means (when a record has one)."""
    lines = [MINIMUM_LEGEND]
    if any((minimum_ratio(r.get("memory") or {}) or 1.0) < 1.0 for r in records):
        lines.append(BELOW_MINIMUM_NOTE)
    return lines


def memory_cell(memory: dict[str, Any]) -> str:
    """What the model and its inference took, and its ratio to the graph-level minimum."""
    measured = memory.get("measured_bytes")
    if not isinstance(measured, int | float):
        return "-"
    ratio = minimum_ratio(memory)
    return f"{measured / 2**20:.3g} MiB" + (f" ({ratio_text(ratio)})" if ratio is not None else "")
