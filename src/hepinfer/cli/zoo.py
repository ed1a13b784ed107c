"""``hepinfer zoo [MODEL_OR_PATH]``: the built-in models, or the cost of one model.

Without a model: every zoo entry with its parameter count, the spec's target and its inputs;
``--cost`` adds weight bytes and multiply-accumulates per event, read from each model's ONNX
export (exported once, then cached). With a zoo name or an .onnx file: that model's inputs,
outputs and cost at ``--batch`` and ``--dim`` sizes, MACs broken down by operation.
``--json`` prints the same objects as JSON: an array of entries, or one model's object.
"""

from __future__ import annotations

import argparse
import json
import sys

from hepinfer.cli import args as parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the zoo command."""
    p.add_argument(
        "model",
        nargs="?",
        metavar="MODEL_OR_PATH",
        help="show one model's inputs and cost: a zoo name or an .onnx file",
    )
    p.add_argument(
        "--family", metavar="NAME", help="list one family's models only (rootbench, taggers, vae, gnn, ...)"
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
    p.add_argument(
        "--matrix", action="store_true", help="add the conversion matrix (converts and runs each route)"
    )
    p.add_argument("--batch", type=int, default=1, help="batch size the cost is computed at (default: 1)")
    p.add_argument("--dim", action="append", metavar="NAME=N", help="size of a dynamic axis, e.g. n_pf=100")
    p.add_argument("--param", action="append", metavar="NAME=V", help="zoo model option, e.g. variant=lite")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead: an array with one object per model, or the one model's object",
    )


def execute(ns: argparse.Namespace) -> int:
    """Print the zoo as a table, or one model's description and cost."""
    import hepinfer
    from hepinfer.report.console import stdout_console
    from hepinfer.report.zoo import model_view, zoo_table

    if ns.model and ns.family:
        from hepinfer.errors import ConfigurationError

        raise ConfigurationError("--family lists a family's models: give a model or --family, not both")
    if ns.model:
        cost = hepinfer.model_cost(
            ns.model,
            batch=ns.batch,
            dims=parse.dims(ns.dim),
            params=parse.pairs(ns.param, "--param"),
            exporter=ns.exporter,
            matrix=ns.matrix,
        )
        parts = model_view(cost)
        shown: object = cost
    else:
        from hepinfer._optional import missing

        # The zoo's definitions are PyTorch: without torch the list stands, the counts cannot.
        no_torch = None if ns.no_count else missing("torch", "counting the parameters (PyTorch definitions)")
        if no_torch:
            print(f"hepinfer zoo: {no_torch}", file=sys.stderr)
        models = _zoo_models(ns, count=not (ns.no_count or no_torch))
        parts = [zoo_table(models)]
        shown = models
    if ns.json:
        print(json.dumps(shown, indent=1))
        return 0
    console = stdout_console()
    for part in parts:
        console.print(part)
    return 0


def _zoo_models(ns: argparse.Namespace, count: bool) -> list[dict[str, object]]:
    """The zoo's rows; with ``--cost`` (an export per model, minutes when not cached) the
    progress goes to stderr: a live bar on a terminal, else one line per model."""
    import hepinfer

    if not ns.cost:
        return hepinfer.zoo_models(count=count, batch=ns.batch, exporter=ns.exporter, family=ns.family)
    from hepinfer.cli.progress import steps

    with steps(len(hepinfer.zoo_models(count=False, family=ns.family)), "exporting") as progress:

        def on_start(i: int, n: int, name: str) -> None:
            progress.start(f"{name}: exporting, counting MACs", done=i, total=n)

        def on_row(row: dict[str, object]) -> None:
            macs = float(str(row["macs_per_event"]))
            shown = f"{macs:,.0f}" if macs.is_integer() else f"{macs:,.2f}"
            cost = f"{shown} MACs per event, {row['weight_bytes']:,} weight bytes"
            progress.finish(cost, name=str(row["model"]))

        return hepinfer.zoo_models(
            count=count,
            cost=True,
            batch=ns.batch,
            exporter=ns.exporter,
            on_start=on_start,
            on_row=on_row,
            family=ns.family,
        )
