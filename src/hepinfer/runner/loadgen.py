"""Load scenarios driven by MLPerf LoadGen: ``python -m hepinfer.runner.loadgen JOB.json``.

LoadGen (the mlcommons-loadgen package) issues the queries and judges the run; hepinfer only
answers them. A query sample is one event (a pool slot): its objects in one batched call
(``per-event``) or one call each (``per-object``).

- SingleStream: one query at a time, answered on LoadGen's issuing thread; headline p90.
- Offline: every sample in one query; N framework threads drain it; headline throughput.
- Server: Poisson arrivals at a target rate; N framework threads answer from a queue;
  headline p99 and whether it stays under the target latency (the run's validity).

The summary LoadGen writes (``mlperf_log_summary.txt``) is parsed into the record: the
result's validity, which of its constraints held, and the early-stopping estimates.
"""

from __future__ import annotations

import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.runner.eventloop import Config, EventLoopPlan, EventLoopRequest, plan, record_key

SCENARIOS = ("SingleStream", "Offline", "Server")
# Offline samples handed to a framework thread at a time.
OFFLINE_CHUNK = 32


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
    the_plan = plan(loop)
    if not the_plan.configs:
        raise ConfigurationError(
            f"{loop.backends[0]} cannot run mode {request.mode}: {'; '.join(the_plan.notes)}"
        )
    config = the_plan.configs[0]
    if config.threads == 1:  # plan folds the modes at 1 thread; keep the one asked for
        config = Config(config.backend, request.mode, 1, config.strategy)
    return the_plan, config


def run(request: LoadGenRequest, out: Path | None = None, keep_workdir: Path | None = None) -> dict[str, Any]:
    """Run the scenario in a fresh worker process; the record (appended to ``out`` when given)."""
    from hepinfer.results import jsonl
    from hepinfer.results.schema import Key, new_record
    from hepinfer.runner.eventloop import interpreter_of, job_for, staged_fields
    from hepinfer.runner.launch import run_job

    the_plan, config = check(request)
    workdir = keep_workdir or Path(tempfile.mkdtemp(prefix="hepinfer-loadgen-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fields, failed = staged_fields(the_plan, config)
    job = {**job_for(the_plan, config), **fields}
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
        python = None if failed else interpreter_of(the_plan, config, fields)
        result = failed or run_job(
            job, workdir, "loadgen", limit, module="hepinfer.runner.loadgen", python=python
        )
    finally:
        if keep_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    record = new_record(Key(model="", backend="", batch=0, threads=0), uuid.uuid4().hex[:12])
    record["kind"] = "loadgen"
    record["key"] = {**record_key(the_plan, config), **job["loadgen"]}
    record["model"] = {"ref": the_plan.ref.to_dict()}
    if result["status"] != "ok":
        record["status"] = "error"
        record["error"] = result["error"]
    else:
        for name in ("one_off", "memory", "backend", "environment", "loadgen", "process"):
            record[name] = result.get(name, record.get(name))
        record["stats"] = headline(request.scenario, record["loadgen"]["summary"])
    if out is not None:
        jsonl.append(out, record)
    return record


def parse_summary(text: str) -> dict[str, Any]:
    """mlperf_log_summary.txt as a dict: ``key : value`` lines (numbers where they are), the
    bullet lists (``Recommendations``, ``Early Stopping Result``) as lists of lines, and the
    counts of errors and warnings LoadGen reports.

    A key seen again (the early-stopping estimates reuse latency names) is stored under
    ``section/key``, the section being the last ``===`` header.
    """
    out: dict[str, Any] = {"errors": 0, "warnings": 0}
    section = ""
    bullets: list[str] | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and set(stripped) == {"="}:
            section = lines[i - 1].strip() if i > 0 else ""
            continue
        if stripped.startswith("* ") and bullets is not None:
            bullets.append(stripped[2:])
            continue
        if stripped.endswith(":") and not stripped.startswith("*"):
            bullets = out.setdefault(stripped[:-1], [])
            continue
        bullets = None
        count = re.fullmatch(r"(\d+) (warning|ERROR)s? encountered\..*", stripped)
        if count:
            out["errors" if count.group(2) == "ERROR" else "warnings"] = int(count.group(1))
            continue
        key, sep, value = stripped.partition(":")
        if not sep or not key.strip() or not value.strip():
            continue
        name = key.strip()
        if name in out:
            name = f"{section}/{name}"
        out[name] = _number(value.strip())
    return out


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def early_stopping(summary: dict[str, Any]) -> dict[str, Any]:
    """LoadGen's early-stopping verdict and its percentile estimates (ns), by percentile."""
    lines = summary.get("Early Stopping Result", [])
    estimates = {}
    for line in lines:
        m = re.search(r"([\d.]+)th percentile estimate: *(\d+)", line)
        if m:
            estimates[f"p{float(m.group(1)):g}_ns"] = int(m.group(2))
    return {
        "satisfied": summary.get("Early stopping satisfied") == "Yes",
        "estimates": estimates,
        "lines": lines,
    }


def headline(scenario: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The scenario's headline numbers and verdicts from the parsed summary."""
    out: dict[str, Any] = {
        "scenario": scenario,
        "valid": summary.get("Result is") == "VALID",
        "min_duration_satisfied": summary.get("Min duration satisfied") == "Yes",
        "min_queries_satisfied": summary.get("Min queries satisfied") == "Yes",
        "early_stopping": early_stopping(summary),
        "recommendations": summary.get("Recommendations", []),
        "loadgen_errors": summary.get("errors", 0),
        "latency_ns": {
            k.split()[0]: v
            for k, v in summary.items()
            if k.endswith("percentile latency (ns)") and k[0].isdigit() and not k.split()[0].endswith("th")
        },
        "mean_latency_ns": summary.get("Mean latency (ns)"),
    }
    if scenario == "SingleStream":
        out["p90_ns"] = summary.get("90.00 percentile latency (ns)")
        out["qps"] = summary.get("QPS w/o loadgen overhead")
    elif scenario == "Offline":
        out["samples_per_s"] = summary.get("Samples per second")
    else:
        out["scheduled_qps"] = summary.get("Scheduled samples per second")
        out["completed_qps"] = summary.get("Completed samples per second")
        out["p99_ns"] = summary.get("99.00 percentile latency (ns)")
        out["target_latency_satisfied"] = summary.get("Performance constraints satisfied") == "Yes"
    return out


# ----------------------------------------------------------------------------- worker side


def execute(job: dict[str, Any], phases: Any) -> dict[str, Any]:
    """Set up like the event loop, then let LoadGen drive the queries."""
    from hepinfer._optional import require
    from hepinfer.measure.environment import environment
    from hepinfer.measure.memory import hwm_bytes as _peak_rss
    from hepinfer.measure.memory import rss_bytes as _rss
    from hepinfer.runner.eventloop_worker import setup

    lg = require("mlperf_loadgen", "hepinfer loadgen")
    params = job["loadgen"]
    scenario = params["scenario"]
    out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
    ready = setup(job, phases, out, every_slot=True)
    phases.enter("loadgen")

    sessions = ready.sessions
    answered = [0] * ready.framework_threads  # per thread: no two threads add to one count

    def answer(i: int, samples: list[Any]) -> None:
        """Run each sample's calls on thread i's session, then tell LoadGen it is done."""
        run = ready.session(i).run
        prepared = ready.prepared[i]
        for q in samples:
            for p in prepared[q.index % ready.pool]:
                run(p)
        answered[i] += len(samples)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in samples])

    work: queue.Queue[list[Any] | None] = queue.Queue()
    threads: list[threading.Thread] = []
    if scenario != "SingleStream":

        def drain(i: int) -> None:
            from hepinfer.runner.harness import scope_of

            with scope_of(ready.session(i)):  # entered once per thread, not per call
                while (samples := work.get()) is not None:
                    answer(i, samples)

        threads = [
            threading.Thread(target=drain, args=(i,), daemon=True, name=f"framework-{i}")
            for i in range(ready.framework_threads)
        ]
        for t in threads:
            t.start()

    def issue(samples: list[Any]) -> None:
        if scenario == "SingleStream":
            answer(0, samples)  # on LoadGen's thread: nothing between it and the session
        else:
            # Offline hands the threads chunks (fewer hand-overs, a batched completion);
            # Server answers every arrival on its own.
            step = OFFLINE_CHUNK if scenario == "Offline" else 1
            for k in range(0, len(samples), step):
                work.put(samples[k : k + step])

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = int(params["duration_s"] * 1000)
    settings.min_query_count = int(params["min_queries"])
    settings.performance_sample_count_override = ready.pool
    event_ns = _event_ns(ready)
    capacity = _capacity(ready) if params["qps"] is None and scenario != "SingleStream" else None
    if scenario == "Offline":
        qps = params["qps"] or 1.1 * (capacity or 0.0)
    else:
        # LoadGen's Python bindings and the hand-over cost tens of µs per query besides.
        qps = params["qps"] or 0.3 * (capacity or 0.0)
    if scenario == "Server":
        settings.server_target_qps = float(qps)
        settings.server_target_latency_ns = int(params["target_latency_ms"] * 1e6)
        settings.server_target_latency_percentile = 0.99
    elif scenario == "Offline":
        settings.offline_expected_qps = float(qps)
    else:
        # LoadGen pre-generates about 2 x min_duration / expected latency queries and stops
        # issuing once min duration and min queries are met; an estimate above the real
        # latency runs out of queries first (INVALID). Aim 10x low, for at most ~2M queries.
        floor = params["duration_s"] * 1e9 / 1_000_000
        settings.single_stream_expected_latency_ns = int(max(1_000, floor, 0.1 * event_ns))
    # A run stops at whichever comes last of min duration and min queries; cap it anyway.
    settings.max_duration_ms = int(params["duration_s"] * 1000 * 2 + 5000)

    logdir = Path(job["result_path"]).with_suffix(".mlperf")
    logdir.mkdir(parents=True, exist_ok=True)
    log_out = lg.LogOutputSettings()
    log_out.outdir = str(logdir)
    log_out.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_out
    log_settings.enable_trace = False

    noop: Callable[[list[int]], None] = lambda _samples: None  # noqa: E731 - inputs already prepared
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(ready.pool, ready.pool, noop, noop)
    t0 = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    wall = time.perf_counter() - t0
    summary_path = logdir / "mlperf_log_summary.txt"
    if not summary_path.exists():
        raise ConfigurationError(f"LoadGen wrote no summary in {logdir}")
    text = summary_path.read_text()
    out["loadgen"] = {
        "summary": parse_summary(text),
        "summary_text": text,
        "samples_answered": sum(answered),
        "wall_s": wall,
        "pool": ready.pool,
        "settings": {
            "scenario": scenario,
            "min_duration_ms": settings.min_duration_ms,
            "min_query_count": settings.min_query_count,
            "qps": qps,
            "qps_chosen": "given" if params["qps"] else "estimated",
            "estimated_event_ns": event_ns,
            "estimated_events_per_s": capacity,
            "framework_threads": ready.framework_threads,
            "sessions": len(sessions),
        },
        "version": _version(),
    }
    out["memory"]["rss_after_run"] = _rss()
    out["memory"]["peak_rss"] = _peak_rss()
    out["backend"] = {"settings": sessions[0].settings(), "shareable": ready.cls.shareable}
    from hepinfer.runner.harness import process_section

    out["process"] = process_section(job.get("parent_guard"))
    phases.enter("environment")
    out["environment"] = environment((*ready.cls.packages, "mlcommons-loadgen"))
    return out


def _event_ns(ready: Any, events: int = 20) -> float:
    """Median time of one event on thread 0's session (untimed warm-up for LoadGen)."""
    run = ready.session(0).run
    prepared = ready.prepared[0]
    times = []
    for e in range(events):
        t0 = time.perf_counter_ns()
        for p in prepared[e % ready.pool]:
            run(p)
        times.append(time.perf_counter_ns() - t0)
    times.sort()
    return float(times[len(times) // 2])


def _capacity(ready: Any, seconds: float = 0.3) -> float:
    """Events/s the framework threads sustain together, from a short untimed run."""
    counts = [0] * ready.framework_threads
    stop = time.perf_counter() + seconds

    def spin(i: int) -> None:
        run = ready.session(i).run
        prepared = ready.prepared[i]
        n = 0
        while time.perf_counter() < stop:
            for p in prepared[n % ready.pool]:
                run(p)
            n += 1
        counts[i] = n

    t0 = time.perf_counter()
    threads = [threading.Thread(target=spin, args=(i,)) for i in range(ready.framework_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str]) -> int:
    """``python -m hepinfer.runner.loadgen JOB.json``."""
    from pathlib import Path

    from hepinfer.runner.protocol import serve

    return serve(Path(argv[1]), execute)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
