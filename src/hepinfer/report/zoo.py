"""The ``hepinfer zoo`` views: the catalogue table and one model's inputs and cost.

Both are built from the plain objects ``hepinfer.zoo_models`` and ``hepinfer.model_cost``
return (the same objects ``--json`` prints).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

# The definition's trainable parameters (torch's count, what the spec targets) and the
# export's initializer elements (constants folded, buffers such as batch-norm statistics
# kept, tied weights once): both are right, they count different things.
TRAINABLE = "trainable params (definition)"
EXPORT = "initializer elements (ONNX export)"


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (SI prefixes), for MACs and bytes."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {prefix}{unit}"
    return f"{n:.3g} {unit}".strip()


def zoo_table(models: Sequence[dict[str, Any]], title: str = "hepinfer zoo") -> Table:
    """One row per zoo entry; the cost columns when the entries carry a cost."""
    table = Table(title=title)
    with_cost = any("macs_per_event" in m for m in models)
    # Two counts that differ on purpose, named the same way everywhere (PARAMETER_LABELS).
    cols = ["model", "family", TRAINABLE, "spec target", "options", "inputs"]
    if with_cost:
        cols += [EXPORT, "weights", "MACs/event"]
    for col in [*cols, "summary"]:
        table.add_column(col)
    for m in models:
        target = f"{m['target_params']:,}" if m["target_params"] else "-"
        if m["target_params"] and m["target_kind"] == "stored":
            target += " (stored)"
        row = [
            escape(m["model"]),
            escape(m["family"]),
            "-" if m["params"] is None else f"{m['params']:,}",
            target,
            escape(", ".join(f"{k}={v}" for k, v in m["options"].items()) or "-"),
            escape("\n".join(m["inputs"])),
        ]
        if with_cost:
            elements = m.get("export_elements")
            row += [
                "-" if elements is None else f"{elements:,}",
                human(m["weight_bytes"], "B"),
                human(m["macs_per_event"]),
            ]
        table.add_row(*row, escape(m["summary"]))
    return table


def model_view(cost: dict[str, Any]) -> list[RenderableType]:
    """One model (``hepinfer.model_cost``): inputs, outputs, parameters, MACs by operation."""
    out: list[RenderableType] = [f"[bold]{escape(cost['model'])}[/bold]"]
    out += [f"  in  {escape(t)}" for t in cost["inputs"]]
    out += [f"  out {escape(t)}" for t in cost["outputs"]]
    for group in cost.get("dynamic_axes", []):
        also = f"; also --dim {', '.join(group['aliases'])}" if group["aliases"] else ""
        default = f" (default {group['default']})" if group["default"] is not None else ""
        axes = ", ".join(group["axes"])
        out.append(f"  --dim {escape(group['name'])}=N{default} sizes {escape(axes + also)}")
    if "params" not in cost:
        needs = ", ".join(f"--dim {n}=N" for n in cost.get("cost_needs", []))
        out.append(f"  cost: {escape(cost.get('cost_note') or 'give ' + needs + ' for it')}")
        return out
    sizes = ", ".join(f"{k}={v}" for k, v in cost["dims"].items())
    if cost.get("trainable_params") is not None:
        out.append(f"  {TRAINABLE} {cost['trainable_params']:,}")
    out.append(f"  {EXPORT} {cost['params']:,} ({human(cost['weight_bytes'], 'B')} of weights)")
    out.append(
        f"  MACs per event {cost['macs_per_event']:,.0f} ({human(cost['macs_per_event'])}) at batch "
        f"{cost['batch']}{', ' + escape(sizes) if sizes else ''}"
    )
    table = Table("operation", "MACs per event", "share")
    total = cost["macs"] or 1
    for op, macs in sorted(cost["macs_by_op"].items(), key=lambda kv: -kv[1]):
        table.add_row(escape(op), f"{macs / cost['batch']:,.0f}", f"{100 * macs / total:.1f}%")
    out.append(table)
    if cost["uncounted"]:
        out.append(f"  not counted (shapes unknown): {escape(', '.join(cost['uncounted']))}")
    if cost.get("conversions"):
        out.append(matrix_table(cost["conversions"]))
    return out


def matrix_table(matrix: dict[str, Any]) -> Table:
    """The conversion matrix (``hepinfer.conversion_matrix``): one row per route."""
    title = (
        f"conversions of {escape(matrix['model'])} against its {matrix['source']} source "
        f"(batch {matrix['batch']}, seed {matrix['seed']})"
    )
    table = Table("route", "tool", "status", "max |diff|", "why not", title=title)
    for row in matrix["routes"]:
        diff = f"{row['max_abs']:.3g}" if row.get("max_abs") is not None else "-"
        why = row.get("error") or row.get("reason") or ""
        table.add_row(escape(row["route"]), escape(row["tool"]), row["status"], diff, escape(why))
    return table
