"""``hepinfer memory MODEL_OR_PATH``: memory against batch size, and N sessions vs one shared."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.cli.args import print_json_lines
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
        default="1",
        help="comma-separated event thread counts N: N sessions (one per thread) vs one shared "
        "session (default: %(default)s)",
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
    p.add_argument(
        "--json",
        action="store_true",
        help="print the records as JSON Lines (one record per line, as appended to --out) "
        "instead of the table; progress and messages go to stderr",
    )


def requests_from(ns: argparse.Namespace) -> list[Any]:
    """One MemoryRequest per thread count of ``--threads`` (each checked later by plan)."""
    return [request_from(ns, t) for t in parse.int_list(ns.threads, "--threads")]


def request_from(ns: argparse.Namespace, threads: int = 1) -> Any:
    """The MemoryRequest the arguments describe at one thread count."""
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
        threads=threads,
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=options,
        exporter=ns.exporter,
        calls=ns.calls,
        timeout_s=ns.timeout,
    )


def execute(ns: argparse.Namespace) -> int:
    """Plan (fail fast), measure each (backend, batch) in its own worker, print the table."""
    from rich.console import Console

    from hepinfer.runner import memory

    requests = requests_from(ns)
    plans = [memory.plan(request) for request in requests]  # every bad input fails here
    keys = [k for p in plans for k in p]
    out = Path(ns.out)
    err = Console(stderr=True)
    done = [0]

    def progress(record: dict[str, Any]) -> None:
        done[0] += 1
        k = record["key"]
        what = f"{k['backend']} batch {k['batch']} threads {k['threads']}"
        err.print(f"[{done[0]}/{len(keys)}] {what}: {record['status']}", highlight=False)

    records = [r for request in requests for r in memory.run_memory(request, out=out, on_record=progress)]
    if ns.json:
        print_json_lines(records)
    else:
        from hepinfer.report.console import stdout_console
        from hepinfer.report.memory import memory_table

        stdout_console().print(memory_table(records, title=f"hepinfer memory: {keys[0].model}"))
    print(f"{len(records)} records appended to {out}", file=sys.stderr)
    failed = sum(r["status"] != "ok" for r in records)
    return 1 if failed else 0
