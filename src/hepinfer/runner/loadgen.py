"""Load scenarios driven by MLPerf LoadGen, each in a worker process
(``python -m hepinfer.runner.loadgen_worker JOB.json``).

LoadGen (the mlcommons-loadgen package) issues the queries and judges the run; hepinfer only
answers them. A query sample is one event (a pool slot): its objects in one batched call
(``per-event``) or one call each (``per-object``).

- SingleStream: one query at a time, answered on LoadGen's issuing thread; headline p90.
- Offline: every sample in one query; N framework threads drain it; headline throughput.
- Server: Poisson arrivals at a target rate; N framework threads answer from a queue;
  headline p99 and whether it stays under the target latency (the run's validity).

The summary LoadGen writes (``mlperf_log_summary.txt``) is parsed into the record
(``loadgen_summary``): the result's validity, which of its constraints held, and the
early-stopping estimates.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.runner.eventloop import Config, EventLoopPlan, EventLoopRequest, plan
from hepinfer.runner.loadgen_summary import early_stopping, headline, parse_summary

__all__ = [
    "SCENARIOS",
    "LoadGenRequest",
    "check",
    "early_stopping",
    "headline",
    "parse_summary",
    "run_loadgen",
]

SCENARIOS = ("SingleStream", "Offline", "Server")


@dataclass(frozen=True)
class LoadGenRequest:
    """A scenario on one backend in one mode; the model and events as in the event loop."""

    loop: EventLoopRequest
    scenario: str = "SingleStream"
    # Server: target arrival rate; Offline: the expected rate, which sizes the single query.
    # None: estimated in the worker from 0.3 s of the N threads running events (Offline: 1.1x
    # that, so the query outlasts min duration; Server: 0.3x, a load the run should sustain;
    # give --qps to study a real rate).
    qps: float | None = None
    duration_s: float = 2.0
    min_queries: int = 100
    # Server: the p99 latency a valid run must stay under.
    target_latency_ms: float = 10.0
    mode: str = "shared"
    threads: int = 1


def check(request: LoadGenRequest) -> tuple[EventLoopPlan, Config]:
    """The checked request: the event-loop plan of its model and its one configuration."""
    if request.scenario not in SCENARIOS:
        raise ConfigurationError(f"--scenario {request.scenario}: choose from {', '.join(SCENARIOS)}")
    if (
        (request.qps is not None and request.qps <= 0)
        or request.duration_s <= 0
        or request.target_latency_ms <= 0
    ):
        raise ConfigurationError("--qps, --duration and --target-latency-ms must be positive")
    if request.min_queries < 1:
        raise ConfigurationError(f"--min-queries {request.min_queries}: use 1 or more")
    if len(request.loop.backends) != 1 or len(request.loop.strategies) != 1:
        raise ConfigurationError("loadgen runs one backend and one strategy at a time")
    loop = EventLoopRequest(
        **{**request.loop.__dict__, "threads": (request.threads,), "modes": (request.mode,)}
    )
    loop_plan = plan(loop)
    if not loop_plan.configs:
        raise ConfigurationError(
            f"{loop.backends[0]} cannot run mode {request.mode}: {'; '.join(loop_plan.notes)}"
        )
    config = loop_plan.configs[0]
    if config.threads == 1:  # plan folds the modes at 1 thread; keep the one asked for
        config = Config(config.backend, request.mode, 1, config.strategy)
    return loop_plan, config


def run_loadgen(
    request: LoadGenRequest, out: Path | None = None, keep_workdir: Path | None = None
) -> dict[str, Any]:
    """Run the scenario in a fresh worker process; the record (appended to ``out`` when given)."""
    from hepinfer.results import jsonl
    from hepinfer.results.schema import Key, new_record
    from hepinfer.runner.eventloop import interpreter_of, job_for, staged_fields
    from hepinfer.runner.eventloop_record import record_key
    from hepinfer.runner.launch import run_job
    from hepinfer.runner.records import take_result

    loop_plan, config = check(request)
    workdir = keep_workdir or Path(tempfile.mkdtemp(prefix="hepinfer-loadgen-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fields, failed = staged_fields(loop_plan, config)
    job = {**job_for(loop_plan, config), **fields}
    job["loadgen"] = {
        "scenario": request.scenario,
        "qps": request.qps,
        "duration_s": request.duration_s,
        "min_queries": request.min_queries,
        "target_latency_ms": request.target_latency_ms,
    }
    try:
        # LoadGen stops at min duration and min queries; a worker stuck past this is hung.
        limit = request.loop.timeout_s + 3 * request.duration_s
        python = None if failed else interpreter_of(loop_plan, config, fields)
        result = failed or run_job(
            job, workdir, "loadgen", limit, module="hepinfer.runner.loadgen_worker", python=python
        )
    finally:
        if keep_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    record = new_record(Key(model="", backend="", batch=0, threads=0), uuid.uuid4().hex[:12])
    record["kind"] = "loadgen"
    record["key"] = {**record_key(loop_plan, config), **job["loadgen"]}
    record["model"] = {"ref": loop_plan.ref.to_dict()}
    if take_result(record, result, ("one_off", "memory", "backend", "environment", "loadgen", "process")):
        record["stats"] = headline(request.scenario, record["loadgen"]["summary"])
    if out is not None:
        jsonl.append(out, record)
    return record
