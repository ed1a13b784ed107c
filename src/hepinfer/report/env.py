"""The ``hepinfer env`` view, built from ``hepinfer.env()`` (what ``--json`` prints)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table


def env_view(info: dict[str, Any]) -> list[RenderableType]:
    """CPU, ISA, Python, BLAS pools, thread variables, and the backends table."""
    env, status = info["environment"], info["backends"]
    cpu = env["cpu"]
    out: list[RenderableType] = [
        f"[bold]CPU[/bold] {escape(str(cpu['model']))} ({cpu['arch']}), {cpu['usable_cores']} usable of "
        f"{cpu['logical_cores']} logical cores, {cpu['memory_bytes'] / 2**30:.1f} GiB",
        f"[bold]ISA[/bold] {' '.join(cpu['isa']) or 'none of note'}",
        f"[bold]Python[/bold] {env['python']} on {escape(str(env['os']))}",
    ]
    for lib in env["blas"]:
        out.append(
            f"[bold]BLAS/OpenMP[/bold] {lib.get('internal_api', lib.get('error'))} "
            f"{lib.get('version') or ''} threads={lib.get('num_threads')} ({escape(str(lib.get('prefix')))})"
        )
    if env["thread_env"]:
        out.append(
            "[bold]Thread variables[/bold] " + " ".join(f"{k}={v}" for k, v in env["thread_env"].items())
        )
    table = Table(title="backends")
    table.add_column("backend")
    table.add_column("status")
    table.add_column("version or reason")
    for name, st in status.items():
        colour = {"available": "green", "client only": "yellow"}.get(st["status"], "red")
        table.add_row(
            escape(name),
            f"[{colour}]{st['status']}[/{colour}]",
            escape("; ".join(str(st[k]) for k in ("version", "reason") if st.get(k))),
        )
    out.append(table)
    return out
