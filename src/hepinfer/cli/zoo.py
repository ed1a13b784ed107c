"""``hepinfer zoo``: the built-in models with their parameter counts and inputs."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the zoo command."""
    p.add_argument("--no-count", action="store_true", help="skip building the models to count parameters")


def count_parameters(name: str) -> int:
    """Trainable parameters of the zoo model at its default options (builds it with torch)."""
    from hepinfer.zoo import entry

    e = entry(name)
    module = e.build(e.params({}))
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def run(ns: argparse.Namespace) -> int:
    """Print the zoo as a table."""
    from rich.console import Console
    from rich.table import Table

    from hepinfer.zoo import ENTRIES

    table = Table(title="hepinfer zoo")
    for col in ("model", "family", "params", "spec target", "options", "inputs", "summary"):
        table.add_column(col)
    for name, e in ENTRIES.items():
        spec = e.spec(e.params({}))
        params = "-" if ns.no_count else f"{count_parameters(name):,}"
        table.add_row(
            name,
            e.family,
            params,
            f"{e.target_params:,}" if e.target_params else "-",
            ", ".join(f"{k}={v}" for k, v in e.defaults.items()) or "-",
            "\n".join(t.describe() for t in spec.inputs),
            e.summary,
        )
    Console().print(table)
    return 0
