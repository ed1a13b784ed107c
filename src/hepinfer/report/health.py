"""The "model health" section: the doctor's findings, rendered from their stored JSON.

The doctor writes ``RESULTS.health.json`` beside a results file (``hepinfer doctor MODEL --out
RESULTS.jsonl``): one document of format ``hepinfer.health/1`` per model label. This module
reads those documents as plain data; it imports neither the doctor nor any backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hepinfer.report.sidecar import escape, load_beside

FORMAT = "hepinfer.health/1"


def health_path(results: Path) -> Path:
    """``RESULTS.health.json`` beside ``RESULTS.jsonl``."""
    return results.with_name(results.name.removesuffix(".jsonl") + ".health.json")


def load(results: Iterable[Path | str]) -> dict[str, dict[str, Any]]:
    """The health documents stored beside these results files, by model label (later files
    win); a file of another format is skipped, an unreadable one named in the error."""
    return load_beside(results, health_path, FORMAT, "run 'hepinfer doctor MODEL --out {results}'")


_e = escape


def _evidence(evidence: Mapping[str, Any]) -> str:
    parts = []
    for k, v in evidence.items():
        text = (
            ", ".join(map(str, v))
            if isinstance(v, list)
            else json.dumps(v)
            if isinstance(v, dict)
            else str(v)
        )
        parts.append(f"{k}: {text}")
    return "; ".join(parts)


def health_section(doc: Mapping[str, Any]) -> str:
    """The HTML of one model's health: a line of facts, then one row per finding."""
    findings = doc.get("findings") or []
    facts = f"opset {_e(doc.get('opset'))}, IR {_e(doc.get('ir_version'))}, {_e(doc.get('nodes'))} nodes" + (
        f", made by {_e(doc['producer'])}" if doc.get("producer") else ""
    )
    rows = []
    for f in findings:
        cls = (
            " class='bad'"
            if f["severity"] == "error"
            else " class='err'"
            if f["severity"] == "warning"
            else ""
        )
        cure = (f.get("fix") and f"--fix: {f['fix']}") or f.get("advice") or ""
        rows.append(
            f"<tr{cls}><td class='l'>{_e(f['severity'])}</td><td class='l'>{_e(f['code'])}</td>"
            f"<td class='l'>{_e(f['title'])}<br><small>{_e(_evidence(f.get('evidence') or {}))}</small></td>"
            f"<td class='l'>{_e(cure)}</td></tr>"
        )
    backends = doc.get("backends") or {}
    asked = ", ".join(
        f"{_e(b)}: {_e('runs every operator' if v == [] else 'cannot tell' if v is None else v)}"
        for b, v in backends.items()
    )
    table = (
        "<table><tr><th class='l'>severity</th><th class='l'>finding</th><th class='l'>evidence</th>"
        "<th class='l'>cure</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>no findings</p>"
    )
    return (
        "<h3>model health</h3>"
        f"<p>{facts} &middot; <small>from hepinfer doctor, {_e(doc.get('path'))}</small></p>"
        + table
        + (f"<p><small>backends asked: {asked}</small></p>" if asked else "")
    )


def health_text(doc: Mapping[str, Any]) -> str:
    """The same for a terminal: one block per finding."""
    lines = [
        f"{doc['model']}: opset {doc['opset']}, IR {doc['ir_version']}, {doc['nodes']} nodes"
        + (f", made by {doc['producer']}" if doc.get("producer") else "")
    ]
    findings = doc.get("findings") or []
    if not findings:
        lines.append("  no findings")
    for f in findings:
        lines.append(f"  [{f['severity']}] {f['code']}: {f['title']}")
        if f.get("evidence"):
            lines.append(f"      evidence: {_evidence(f['evidence'])}")
        if f.get("fix"):
            lines.append(f"      --fix: {f['fix']}")
        elif f.get("advice"):
            lines.append(f"      advice: {f['advice']}")
    for b, v in (doc.get("backends") or {}).items():
        lines.append(
            f"  {b}: " + ("runs every operator" if v == [] else "cannot tell" if v is None else str(v))
        )
    return "\n".join(lines)
