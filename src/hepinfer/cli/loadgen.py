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
        default="SingleStream",
        help="comma-separated scenarios, each a run and a record: SingleStream: one event at a "
        "time (p90); Offline: all at once (throughput); Server: Poisson arrivals at --qps (p99 "
        "under --target-latency-ms) (default: %(default)s)",
    )
    p.add_argument(
        "--qps",
        type=float,
        help="Server: target arrivals per second; Offline: expected rate "
        "(default: estimated from a short measurement)",
    )
    p.add_argument(
        "--min-time",
        "--duration",  # the old name, kept working
        dest="duration",
        type=float,
        default=10.0,
        help="minimum run time of each scenario, s (default: %(default)s)",
    )
    p.add_argument("--min-queries", type=int, default=100, help="minimum queries")
    p.add_argument("--target-latency-ms", type=float, default=10.0, help="Server's p99 target")
    p.add_argument(
        "--threads",
        default="1",
        help="comma-separated framework (or intra-op) thread counts N, each a run (default: %(default)s)",
    )
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


SCENARIOS = ("SingleStream", "Offline", "Server")


def requests_from(ns: argparse.Namespace) -> list[Any]:
    """One LoadGenRequest per scenario and thread count, in that order."""
    scenarios = [s.strip() for s in ns.scenario.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            raise ConfigurationError(f"--scenario {s}: choose from {', '.join(SCENARIOS)}")
    if not scenarios:
        raise ConfigurationError(f"--scenario: give one or more of {', '.join(SCENARIOS)}")
    threads = parse.int_list(str(ns.threads), "--threads")
    return [request_from(ns, s, t) for s in scenarios for t in threads]


def request_from(ns: argparse.Namespace, scenario: str | None = None, threads: int | None = None) -> Any:
    """The LoadGenRequest of one scenario at one thread count (default: the first given)."""
    from hepinfer.runner.loadgen import LoadGenRequest

    if scenario is None:
        scenario = ns.scenario.split(",")[0].strip()
    if threads is None:
        threads = parse.int_list(str(ns.threads), "--threads")[0]
    if "," in ns.backend:
        raise ConfigurationError(f"--backend {ns.backend}: loadgen runs one backend at a time")
    # The event loop's request carries the model, backend options and events.
    fields = {
        **vars(ns),
        "threads": str(threads),
        "events": ns.pool,
        "warmup_events": 0,
        "max_time": None,
    }
    loop = el.request_from(argparse.Namespace(**fields))
    return LoadGenRequest(
        loop=loop,
        scenario=scenario,
        qps=ns.qps,
        duration_s=ns.duration,
        min_queries=ns.min_queries,
        target_latency_ms=ns.target_latency_ms,
        mode=ns.mode,
        threads=threads,
    )


def execute(ns: argparse.Namespace) -> int:
    """Run each scenario at each thread count and print LoadGen's verdict and headline numbers.

    Exit status: 0 when every run is VALID, 1 when one failed, else 2 when LoadGen judged one
    INVALID.
    """
    from hepinfer.runner import loadgen

    requests = requests_from(ns)
    for request in requests:
        loadgen.check(request)  # raises before anything runs
    out = Path(ns.out)
    codes = [_one(ns, request, out) for request in requests]
    return 1 if 1 in codes else max(codes)


def _one(ns: argparse.Namespace, request: Any, out: Path) -> int:
    """One scenario at one thread count: run, append, print."""
    from hepinfer.runner import loadgen

    print(
        f"running {request.scenario} with {request.threads} thread(s) for at least "
        f"{request.duration_s:g} s ...",
        file=sys.stderr,
    )
    record = loadgen.run_loadgen(request, out=out)
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
