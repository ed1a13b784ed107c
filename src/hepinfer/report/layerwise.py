"""The layerwise report as text: which node went wrong first, its inputs, the path to it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _range(r: Mapping[str, Any]) -> str:
    if not r.get("known", True):
        return "not recorded"
    if "min" not in r:
        return f"{r.get('dtype', '?')} size {r.get('size', 0)}"
    text = f"[{r['min']:.4g}, {r['max']:.4g}]" if r["min"] is not None else "[no finite value]"
    extra = [f"{r[k]} {k}" for k in ("zeros", "nan", "inf") if r.get(k)]
    return f"{text} shape {r['shape']}" + (f" ({', '.join(extra)})" if extra else "")


def layerwise_text(report: Mapping[str, Any]) -> str:
    """A few lines: what was compared, the verdict, and the first bad node in detail."""
    a, b = report["compared"]
    head = f"layerwise {report['model']} ({report['mode']}): {a} vs {b}"
    if report["mode"] == "padding":
        head += f" on {report['backend']}, real particles {report['real_particles']}"
    lines = [head, f"  {report['tensors_compared']} float tensors of {report['nodes']} nodes compared"]
    first = report.get("first")
    if first is None:
        lines.append("  every intermediate tensor is finite and within tolerance")
        return "\n".join(lines)
    run = report["compared"][first["run"]]
    lines.append(
        f"  first node that goes wrong: {first['node']} ({first['op']}), #{first['position']} in "
        f"topological order: its output {first['output']} {first['why']} ({run})"
    )
    lines.append(f"    output: {_range(first['output_range'])}")
    for name, r in first["input_ranges"].items():
        lines.append(f"    input {name}: {_range(r)}")
    lines.append("    path: " + " -> ".join(first["path"]))
    other = (
        report.get("first_mismatch")
        if first is report.get("first_nonfinite")
        else report.get("first_nonfinite")
    )
    if other is not None and other is not first:
        what = "first out of tolerance" if other is report.get("first_mismatch") else "first NaN/Inf"
        lines.append(f"  also: {other['node']} ({other['op']}) #{other['position']} {what}")
    return "\n".join(lines)
