"""``hepinfer loadgen MODEL_OR_PATH``: an MLPerf LoadGen scenario on one backend."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.cli import eventloop as el
from hepinfer.cli.args import print_json_lines
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the loadgen command."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name or an .onnx file")
    p.add_argument("--backend", default="onnxruntime", help="one backend")
    p.add_argument(
        "--scenario",
        choices=("SingleStream", "Offline", "Server"),
        default="SingleStream",
        help="SingleStream: one event at a time (p90); Offline: all at once (throughput); "
        "Server: Poisson arrivals at --qps (p99 under --target-latency-ms)",
    )
    p.add_argument(
        "--qps",
        type=float,
        help="Server: target arrivals per second; Offline: expected rate "
        "(default: estimated from a short measurement)",
    )
    p.add_argument("--duration", type=float, default=10.0, help="minimum run time, s")
    p.add_argument("--min-queries", type=int, default=100, help="minimum queries")
    p.add_argument("--target-latency-ms", type=float, default=10.0, help="Server's p99 target")
    p.add_argument("--threads", type=int, default=1, help="framework (or intra-op) threads N")
    p.add_argument("--mode", choices=("shared", "per-thread", "intra-op"), default="shared")
    p.add_argument("--objects", default="one", help="objects per event, as for eventloop")
    p.add_argument("--strategy", choices=("per-event", "per-object"), default="per-event")
    parse.add_model_arguments(p, "backend option, one value (e.g. onnxruntime.spinning=false)")
    p.add_argument("--seed", type=int, default=0, help="seed of the events")
    p.add_argument("--pool", type=int, default=64, help="distinct events (LoadGen's samples)")
    p.add_argument("--out", default="hepinfer-results.jsonl", help="JSON Lines file for the record")
    p.add_argument("--timeout", type=float, default=900.0, help="worker timeout beyond the run, s")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the record as one JSON line (as appended to --out) instead of the table",
    )


def request_from(ns: argparse.Namespace) -> Any:
    """The LoadGenRequest the arguments describe."""
    from hepinfer.runner.loadgen import LoadGenRequest

    if "," in ns.backend:
        raise ConfigurationError(f"--backend {ns.backend}: loadgen runs one backend at a time")
    # The event loop's request carries the model, backend options and events.
    fields = {
        **vars(ns),
        "threads": str(ns.threads),
        "events": ns.pool,
        "warmup_events": 0,
        "max_time": None,
    }
    loop = el.request_from(argparse.Namespace(**fields))
    return LoadGenRequest(
        loop=loop,
        scenario=ns.scenario,
        qps=ns.qps,
        duration_s=ns.duration,
        min_queries=ns.min_queries,
        target_latency_ms=ns.target_latency_ms,
        mode=ns.mode,
        threads=ns.threads,
    )


def run(ns: argparse.Namespace) -> int:
    """Run the scenario and print LoadGen's verdict and headline numbers.

    Exit status: 0 for a VALID run, 2 for a run LoadGen judged INVALID, 1 for an error.
    """
    from hepinfer.runner import loadgen

    request = request_from(ns)
    loadgen.check(request)  # raises before anything runs
    out = Path(ns.out)
    print(f"running {request.scenario} for at least {request.duration_s:g} s ...", file=sys.stderr)
    record = loadgen.run(request, out=out)
    print(f"1 record appended to {out}", file=sys.stderr)
    if ns.json:
        print_json_lines([record])
    if record["status"] != "ok":
        print(f"hepinfer: the run failed: {record['error']['message']}", file=sys.stderr)
        return 1
    if not ns.json:
        from hepinfer.report.console import stdout_console
        from hepinfer.report.eventloop import loadgen_table

        title = f"hepinfer loadgen: {record['key']['model']} {request.scenario}"
        stdout_console().print(loadgen_table(record, title=title))
    return 0 if record["stats"]["valid"] else 2
