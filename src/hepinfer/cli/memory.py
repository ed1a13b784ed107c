"""``hepinfer memory MODEL_OR_PATH``: memory against batch size, and N sessions vs one shared."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the memory command."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name (see 'hepinfer zoo') or an .onnx file")
    p.add_argument("--backend", default="onnxruntime", help="comma-separated backends (default: %(default)s)")
    p.add_argument(
        "--batch",
        default="1,4,16,64,256,1024",
        help="comma-separated batch sizes (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="event threads N: N sessions (one per thread) vs one shared session (default: 1)",
    )
    parse.add_model_arguments(
        p,
        "backend option (one value each), e.g. onnxruntime.optimization=basic",
    )
    p.add_argument("--calls", type=int, default=5, help="inference calls per phase (default: %(default)s)")
    p.add_argument(
        "--out", default="hepinfer-memory.jsonl", help="JSON Lines file the records are appended to"
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-configuration worker timeout, s")


def request_from(ns: argparse.Namespace) -> Any:
    """The MemoryRequest the arguments describe (checked later by plan)."""
    from hepinfer.runner.memory import MemoryRequest

    options: dict[str, dict[str, str]] = {}
    for backend, values in parse.options(ns.option).items():
        for k, v in values.items():
            if len(v) != 1:
                raise ConfigurationError(f"--option {backend}.{k}: give one value (memory compares batches)")
            options.setdefault(backend, {})[k] = v[0]
    if ns.timeout <= 0:
        raise ConfigurationError(f"--timeout {ns.timeout}: must be positive")
    return MemoryRequest(
        model=ns.model,
        backends=[b.strip() for b in ns.backend.split(",") if b.strip()],
        batches=parse.int_list(ns.batch, "--batch"),
        threads=ns.threads,
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=options,
        exporter=ns.exporter,
        calls=ns.calls,
        timeout_s=ns.timeout,
    )


def memory_table(records: Sequence[dict[str, Any]], title: str = "") -> Any:
    """One row per (backend, batch): deltas, measured vs minimum, and the per-thread extras."""
    from rich.table import Table

    from hepinfer.measure.memory import fmt_bytes
    from hepinfer.report.table import minimum_legend, minimum_ratio, ratio_text

    threads = max((r["key"]["threads"] for r in records), default=1)
    table = Table(title=title or None, caption="\n".join(minimum_legend(records)))
    cols = ["backend", "batch", "model", "inputs", "inference", "measured", "graph minimum", "x min"]
    if threads > 1:
        cols += ["+session", f"+thread shared (N={threads})", "+thread own session"]
    for c in cols:
        table.add_column(c, justify="left" if c == "backend" else "right")
    for r in records:
        k = r["key"]
        if r["status"] != "ok":
            table.add_row(
                k["backend"],
                str(k["batch"]),
                f"[red]error[/red] ({r['error']['phase']}): {r['error']['message']}",
                *[""] * (len(cols) - 3),
            )
            continue
        m = r["memory"]
        d = m["deltas"]
        mini = m.get("minimum") or {}
        row = [
            k["backend"],
            str(k["batch"]),
            fmt_bytes(d["model"]),
            fmt_bytes(d["inputs"]),
            fmt_bytes(d["inference"]),
            fmt_bytes(m["measured_bytes"]),
            fmt_bytes(mini.get("total_bytes")),
            ratio_text(minimum_ratio(m)),
        ]
        if threads > 1:
            s = r.get("sessions") or {}
            row += [
                fmt_bytes(s.get("session_bytes")),
                fmt_bytes(s.get("extra_per_thread_shared")),
                fmt_bytes(s.get("extra_per_thread_separate")),
            ]
        table.add_row(*row)
    return table


def run(ns: argparse.Namespace) -> int:
    """Plan (fail fast), measure each (backend, batch) in its own worker, print the table."""
    from rich.console import Console

    from hepinfer.runner import memory

    request = request_from(ns)
    keys = memory.plan(request)
    out = Path(ns.out)
    err = Console(stderr=True)
    done = [0]

    def progress(record: dict[str, Any]) -> None:
        done[0] += 1
        k = record["key"]
        err.print(f"[{done[0]}/{len(keys)}] {k['backend']} batch {k['batch']}: {record['status']}")

    records = memory.run(request, out=out, on_record=progress)
    Console().print(memory_table(records, title=f"hepinfer memory: {keys[0].model}"))
    print(f"{len(records)} records appended to {out}", file=sys.stderr)
    failed = sum(r["status"] != "ok" for r in records)
    return 1 if failed else 0
