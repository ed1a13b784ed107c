"""``hepinfer env``: the CPU, its instruction sets, BLAS, and each backend's availability."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the env command."""
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead: {environment: ..., backends: {name: status}}",
    )


def execute(ns: argparse.Namespace) -> int:
    """Print the environment as tables, or JSON."""
    import hepinfer

    info = hepinfer.env()
    if ns.json:
        print(json.dumps(info, indent=2))
        return 0
    from hepinfer.report.console import stdout_console
    from hepinfer.report.env import env_view

    console = stdout_console()
    for part in env_view(info):
        console.print(part)
    return 0
