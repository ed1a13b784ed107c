"""``hepinfer zoo [MODEL_OR_PATH]``: the built-in models, or the cost of one model.

Without a model: every zoo entry with its parameter count, the spec's target and its inputs;
``--cost`` adds weight bytes and multiply-accumulates per event, read from each model's ONNX
export (exported once, then cached). With a zoo name or an .onnx file: that model's inputs,
outputs and cost at ``--batch`` and ``--dim`` sizes, MACs broken down by operation.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hepinfer.cli import args as parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the zoo command."""
    p.add_argument(
        "model",
        nargs="?",
        metavar="MODEL_OR_PATH",
        help="show one model's inputs and cost: a zoo name or an .onnx file",
    )
    p.add_argument("--no-count", action="store_true", help="skip building the models to count parameters")
    p.add_argument(
        "--cost",
        action="store_true",
        help="add weight bytes and MACs per event (exports each zoo model to ONNX, cached)",
    )
    p.add_argument(
        "--exporter",
        choices=("dynamo", "legacy"),
        default="dynamo",
        help="torch ONNX exporter used for the cost of zoo models (default: %(default)s)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size the cost is computed at (default: 1)")
    p.add_argument("--dim", action="append", metavar="NAME=N", help="size of a dynamic axis, e.g. n_pf=100")
    p.add_argument("--param", action="append", metavar="NAME=V", help="zoo model option, e.g. variant=lite")


def count_parameters(name: str, params: dict[str, Any] | None = None) -> int:
    """Trainable parameters of the zoo model at its options (builds it with torch)."""
    from hepinfer.zoo import entry

    e = entry(name)
    module = e.build(e.params(params or {}))
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (SI prefixes), for MACs and bytes."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {prefix}{unit}"
    return f"{n:.3g} {unit}".strip()


def cost_of(ref: Any, spec: Any, batch: int, dims: dict[str, int], exporter: str) -> dict[str, Any]:
    """model_cost of a zoo model's export or of an ONNX file."""
    from pathlib import Path

    from hepinfer.convert.cost import model_cost

    if ref.kind == "zoo":
        from hepinfer.convert.torch_onnx import export_zoo

        path = export_zoo(ref, spec, exporter, fallback=True).path  # type: ignore[arg-type]
    else:
        path = Path(ref.name)
    return model_cost(path, batch, spec.resolve_dims(dims), spec=spec)


def run(ns: argparse.Namespace) -> int:
    """Print the zoo as a table, or one model's description and cost."""
    if ns.model:
        return _one(ns)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hepinfer._optional import missing
    from hepinfer.zoo import ENTRIES, model_ref

    # The zoo's definitions are PyTorch: without torch the list stands, the counts cannot.
    no_torch = None if ns.no_count else missing("torch", "counting the parameters (PyTorch definitions)")
    if no_torch:
        print(f"hepinfer zoo: {no_torch}", file=sys.stderr)
    table = Table(title="hepinfer zoo")
    cols = ["model", "family", "params", "spec target", "options", "inputs"]
    if ns.cost:
        cols += ["weights", "MACs/event"]
    for col in [*cols, "summary"]:
        table.add_column(col)
    for name, e in ENTRIES.items():
        spec = e.spec(e.params({}))
        params = "-" if ns.no_count or no_torch else f"{count_parameters(name):,}"
        target = f"{e.target_params:,}" if e.target_params else "-"
        if e.target_params and e.target_kind == "stored":
            target += " (stored)"
        row = [
            name, e.family, params, target,
            ", ".join(f"{k}={v}" for k, v in e.defaults.items()) or "-",
            escape("\n".join(t.describe() for t in spec.inputs)),
        ]  # fmt: skip
        if ns.cost:
            c = cost_of(model_ref(name), spec, ns.batch, {}, ns.exporter)
            row += [human(c["weight_bytes"], "B"), human(c["macs_per_event"])]
        table.add_row(*row, escape(e.summary))
    Console().print(table)
    return 0


def _one(ns: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(ns.model, parse.pairs(ns.param, "--param"))
    spec = spec_of(ref)
    spec.check_batch(ns.batch)
    dims = parse.dims(ns.dim)
    c = cost_of(ref, spec, ns.batch, dims, ns.exporter)
    console = Console()
    console.print(f"[bold]{escape(ref.label)}[/bold]")
    for t in spec.inputs:
        console.print(f"  in  {escape(t.describe())}")
    for t in spec.outputs:
        console.print(f"  out {escape(t.describe())}")
    sizes = ", ".join(f"{k}={v}" for k, v in c["dims"].items())
    console.print(f"  parameters {c['params']:,} ({human(c['weight_bytes'], 'B')} of weights)")
    console.print(
        f"  MACs per event {c['macs_per_event']:,.0f} ({human(c['macs_per_event'])}) at batch "
        f"{c['batch']}{', ' + sizes if sizes else ''}"
    )
    table = Table("operation", "MACs per event", "share")
    total = c["macs"] or 1
    for op, macs in sorted(c["macs_by_op"].items(), key=lambda kv: -kv[1]):
        table.add_row(op, f"{macs / c['batch']:,.0f}", f"{100 * macs / total:.1f}%")
    console.print(table)
    if c["uncounted"]:
        console.print(f"  not counted (shapes unknown): {', '.join(c['uncounted'])}")
    return 0
