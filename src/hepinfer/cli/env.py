"""``hepinfer env``: the CPU, its instruction sets, BLAS, and each backend's availability."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the env command."""
    p.add_argument("--json", action="store_true", help="print the environment as JSON")


def backends_status() -> dict[str, dict[str, str]]:
    """Each backend: its version, or why it is unavailable (no framework is imported)."""
    from hepinfer.backends.registry import backend_class, names
    from hepinfer.measure.environment import versions

    out = {}
    for name in names():
        cls = backend_class(name)
        reason = cls.unavailable_reason()
        if reason is None:
            vers = versions(cls.packages)
            out[name] = {
                "status": "available",
                "version": ", ".join(f"{p} {vers[p]}" for p in cls.packages),
            }
        else:
            out[name] = {"status": "unavailable", "reason": reason}
    return out


def run(ns: argparse.Namespace) -> int:
    """Print the environment as tables, or JSON."""
    import numpy  # noqa: F401  (loads numpy's BLAS, so that it is listed)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from hepinfer.measure.environment import environment

    env = environment()
    status = backends_status()
    if ns.json:
        print(json.dumps({"environment": env, "backends": status}, indent=2))
        return 0
    console = Console()
    cpu = env["cpu"]
    console.print(
        f"[bold]CPU[/bold] {cpu['model']} ({cpu['arch']}), {cpu['usable_cores']} usable of "
        f"{cpu['logical_cores']} logical cores, {cpu['memory_bytes'] / 2**30:.1f} GiB"
    )
    console.print(f"[bold]ISA[/bold] {' '.join(cpu['isa']) or 'none of note'}")
    console.print(f"[bold]Python[/bold] {env['python']} on {env['os']}")
    for lib in env["blas"]:
        console.print(
            f"[bold]BLAS/OpenMP[/bold] {lib.get('internal_api', lib.get('error'))} "
            f"{lib.get('version') or ''} threads={lib.get('num_threads')} ({lib.get('prefix')})"
        )
    if env["thread_env"]:
        console.print(
            "[bold]Thread variables[/bold] " + " ".join(f"{k}={v}" for k, v in env["thread_env"].items())
        )
    table = Table(title="backends")
    table.add_column("backend")
    table.add_column("status")
    table.add_column("version or reason")
    for name, st in status.items():
        colour = "green" if st["status"] == "available" else "red"
        table.add_row(
            name, f"[{colour}]{st['status']}[/{colour}]", escape(st.get("version") or st.get("reason", ""))
        )
    console.print(table)
    return 0
