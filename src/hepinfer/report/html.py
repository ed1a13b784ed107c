"""One self-contained HTML page: plots embedded as base64 PNG, inline CSS, no script, no network.

Every string that comes from a record (model names, options, error messages, host names...)
goes through ``html.escape``; the page's own markup is the only unescaped text.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hepinfer.measure.agreement import EQUAL_NOT_BITWISE
from hepinfer.report import data, processes
from hepinfer.report.cells import fmt_ns, p99_cell
from hepinfer.report.minimum import minimum_legend, minimum_ratio, ratio_text
from hepinfer.report.plots import Plot
from hepinfer.report.verdicts import not_bitwise_text, ulp_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #aaa}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right;vertical-align:top}
th{background:#f0f0f0}td.l,th.l{text-align:left}
tr.bad td{background:#fde2e2}tr.err td{background:#fff4d6}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0;flex:1 1 520px}
.plots img{width:100%;height:auto;border:1px solid #ddd}
.rec{background:#eef6ee;border-left:4px solid #4a4;padding:0.5em 1em;margin:1em 0}
.flag{color:#b00;font-weight:bold}small{color:#666}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text or attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 1, classes: Sequence[str] | None = None
) -> str:
    """An HTML table; cells are escaped; the first ``left`` columns are left-aligned."""
    head = "".join(
        f'<th class="l">{e(h)}</th>' if i < left else f"<th>{e(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for n, row in enumerate(rows):
        cls = f' class="{e(classes[n])}"' if classes and classes[n] else ""
        cells = "".join(
            f'<td class="l">{e(c)}</td>' if i < left else f"<td>{e(c)}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _describe(r: dict[str, Any] | None) -> str:
    if r is None:
        return "none (no configuration measured that agrees with the reference)"
    k, s = r["key"], r["stats"]
    return (
        f"{data.config_label(r)} at batch {k['batch']}, {k['threads']} thread(s): "
        f"{fmt_ns(s['per_event_median_ns'])} per event, {s['throughput_eps']:.3g} events/s (median-based)"
    )


def model_section(
    model: str, records: Sequence[dict[str, Any]], plots: Sequence[tuple[str, str, Any]]
) -> str:
    """The part of the page about one model."""
    from hepinfer.report.plots import to_base64_png

    parts = [f'<h2 id="{e(data.safe_id(model))}">{e(model)}</h2>']
    first = next((r for r in records if r.get("model")), None)
    if first is not None:
        m = first["model"]
        parts.append(
            f"<p><small>inputs: {e('; '.join(m.get('inputs', [])))} &middot; outputs: "
            f"{e('; '.join(m.get('outputs', [])))} &middot; reference: "
            f"{e(m.get('reference_backend'))}</small></p>"
        )
    rec = data.recommend(records)
    parts.append(
        '<div class="rec"><b>Recommendation</b><br>'
        f"lowest latency at batch 1, single thread: {e(_describe(rec['latency']))}<br>"
        f"highest throughput: {e(_describe(rec['throughput']))}<br>"
        "<small>only configurations whose outputs agree with the reference are considered</small>"
        "</div>"
    )
    if plots:
        figs = "".join(
            f'<figure><img alt="{e(title)}" src="data:image/png;base64,{to_base64_png(fig)}">'
            f"<figcaption>{e(title)}</figcaption></figure>"
            for _, title, fig in plots
        )
        parts.append(f'<div class="plots">{figs}</div>')
    from hepinfer.report.plots import not_drawn_line

    skipped = not_drawn_line(records)
    if skipped:
        parts.append(f'<p class="note"><small>{e(skipped)}</small></p>')
    parts.append("<h3>Results</h3>" + results_table(records))
    parts.append("<h3>Agreement with the reference</h3>" + agreement_table(records))
    parts.append("<h3>One-off costs</h3>" + one_off_table(records))
    errors = [r for r in records if r.get("status") != "ok"]
    if errors:
        rows = [
            [
                data.config_label(r),
                r["key"]["batch"],
                r["key"]["threads"],
                (r.get("error") or {}).get("phase", "?"),
                (r.get("error") or {}).get("message", "?"),
            ]
            for r in errors
        ]
        parts.append(
            "<h3>Failed configurations</h3>"
            + _table(
                ["configuration", "batch", "threads", "phase", "error"],
                rows,
                left=1,
                classes=["err"] * len(rows),
            )
        )
    return "\n".join(parts)


def results_table(records: Sequence[dict[str, Any]]) -> str:
    """Per configuration: per-event median with CI, p99, throughput, speed-up, memory."""
    ups = data.speedup_of(records)
    rows, classes = [], []
    for r in data.ok(records):
        k, s = r["key"], r["stats"]
        mem = data.memory_mib(r)
        up = ups.get(r["record_id"])
        notes = []
        if s.get("noisy"):
            notes.append("noisy")
        if (r.get("timing") or {}).get("stop_reason") not in (None, "converged"):
            notes.append(f"stopped: {r['timing']['stop_reason']}")
        several = processes.note(r, fmt_ns)
        if several:
            notes.append(several)
        ci = f"{fmt_ns(s['ci_low_ns'] / k['batch'])} – {fmt_ns(s['ci_high_ns'] / k['batch'])}"
        if r.get("processes") and isinstance(s.get("confidence"), int | float):
            ci += f" (range of processes, {s['confidence']:.0%})"
        rows.append(
            [
                data.config_label(r),
                k["batch"],
                k["threads"],
                fmt_ns(s["per_event_median_ns"]),
                ci,
                p99_cell(s),
                f"{s['throughput_eps']:.3g}",
                f"{up:.2f}x" if up else "-",
                f"{mem['peak']:.0f}" if "peak" in mem else "-",
                data.verdict(r),
                ", ".join(notes),
            ]
        )
        classes.append("bad" if data.verdict(r) == "different" else "")
    return _table(
        [
            "configuration",
            "batch",
            "threads",
            "per event",
            "CI per event",
            "p99/event",
            "events/s (median)",
            "speed-up",
            "peak RSS MiB",
            "agreement",
            "notes",
        ],
        rows,
        left=1,
        classes=classes,
    ) + (f"<p><small>{e(processes.LEGEND)}</small></p>" if processes.any_combined(records) else "")


def agreement_table(records: Sequence[dict[str, Any]]) -> str:
    """Verdict and worst difference per configuration; fast-but-different rows flagged."""
    ups = data.speedup_of(records)
    rows, classes = [], []
    for r in data.ok(records):
        v = data.verdict(r)
        up = ups.get(r["record_id"])
        worst = data.worst_abs(r)
        flag = ""
        if v == "different":
            flag = "FAST BUT DIFFERENT" if up and up > 1 else "DIFFERENT"
        agreement = r.get("agreement") or {}
        reason = not_bitwise_text(agreement) if v == EQUAL_NOT_BITWISE else agreement.get("reason", "")
        rows.append(
            [
                data.config_label(r),
                r["key"]["batch"],
                r["key"]["threads"],
                v,
                f"{worst:.3g}" if worst is not None else "-",
                ulp_text(agreement, r) or "-",
                reason,
                f"{up:.2f}x" if up else "-",
                flag,
            ]
        )
        classes.append("bad" if v == "different" else "")
    return _table(
        [
            "configuration",
            "batch",
            "threads",
            "verdict",
            "max |diff|",
            "max ULP",
            "reason",
            "speed-up",
            "flag",
        ],
        rows,
        left=1,
        classes=classes,
    ) + (
        "<p><small>identical: bitwise (same dtype, shape and bytes); equal values, not bitwise: "
        "every value equal but signed zeros, NaN payloads or the dtype differ; ULPs are counted "
        "in the unit shown (the precision the backend computes in)</small></p>"
    )


def one_off_table(records: Sequence[dict[str, Any]]) -> str:
    """Import, conversion (parent), load, compilation (worker) and first-call times per configuration."""
    rows = []
    ok = data.ok(records)
    for r in ok:
        mem = data.memory_mib(r)
        rows.append(
            [
                data.config_label(r),
                r["key"]["batch"],
                r["key"]["threads"],
                *data.one_off_cells(r),
                f"{mem['load']:.1f}" if "load" in mem else "-",
                _minimum_cell(mem, r),
            ]
        )
    legend = [data.ONE_OFF_LEGEND, *minimum_legend(ok)]
    return _table(
        [
            "configuration",
            "batch",
            "threads",
            *data.ONE_OFF_HEADERS,
            "load RSS MiB",
            "graph-level min MiB (x min)",
        ],
        rows,
        left=1,
    ) + "".join(f"<p><small>{e(line)}</small></p>" for line in legend)


def _minimum_cell(mem: dict[str, float], record: dict[str, Any]) -> str:
    """The graph-level minimum in MiB, with measured / minimum (marked below 1)."""
    if "theoretical_min" not in mem:
        return "-"
    ratio = minimum_ratio(record.get("memory") or {})
    return f"{mem['theoretical_min']:.2f}" + (f" ({ratio_text(ratio)})" if ratio is not None else "")


def environment_section(records: Sequence[dict[str, Any]]) -> str:
    """The machines and library versions, one table each."""
    parts = ['<h2 id="environment">Environment</h2>']
    for env in data.environments(records):
        rows = [[k, env[k]] for k in ("host", "os", "python", "cpu", "isa", "cores", "memory", "thread_env")]
        rows += [[f"version: {name}", v] for name, v in sorted(env["versions"].items())]
        parts.append(_table(["", ""], rows, left=2))
    if len(parts) == 1:
        parts.append("<p>no environment recorded</p>")
    return "\n".join(parts)


def render(
    records: Sequence[dict[str, Any]],
    sources: Sequence[str] = (),
    figs: dict[str, list[Plot]] | None = None,
    health: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """The whole page as a string (``figs``: the plots when already drawn; ``health``: the
    doctor's documents by model label, by default those stored beside the ``sources``)."""
    from hepinfer.report.health import load
    from hepinfer.report.plots import figures, style

    docs = health if health is not None else load(sources)
    with style():
        return _render(records, sources, figs if figs is not None else figures(records), docs)


def _render(
    records: Sequence[dict[str, Any]],
    sources: Sequence[str],
    all_plots: dict[str, list[Plot]],
    health: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    from hepinfer.report.conversions import load as load_matrices
    from hepinfer.report.conversions import matrix_section
    from hepinfer.report.health import health_section

    matrices = load_matrices(sources)
    groups = data.by_model(records)
    failed = sum(r.get("status") != "ok" for r in records)
    toc = " &middot; ".join(f'<a href="#{e(data.safe_id(m))}">{e(m)}</a>' for m in groups)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    body = [
        "<h1>hepinfer report</h1>",
        f"<p>{len(records)} configurations of {len(groups)} model(s)"
        + (f", <span class='flag'>{failed} failed</span>" if failed else "")
        + f" &middot; from {e(', '.join(sources))} &middot; generated {e(now)}</p>",
        f"<p>{toc} &middot; <a href='#environment'>environment</a></p>",
    ]
    for model, rs in groups.items():
        body.append(model_section(model, rs, all_plots.get(model, [])))
        if health and model in health:
            body.append(health_section(health[model]))
        if model in matrices:
            body.append(matrix_section(matrices[model]))
    # Matrices of models these results have no configuration of still belong to the page.
    body += [matrix_section(m) for label, m in matrices.items() if label not in groups]
    body.append(environment_section(records))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>hepinfer report</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write(
    records: Sequence[dict[str, Any]],
    path: Path,
    sources: Sequence[str] = (),
    figs: dict[str, list[Plot]] | None = None,
) -> Path:
    """Write the page (atomically) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(records, sources, figs), encoding="utf-8")
    tmp.replace(path)
    return path
