"""LoadGen's worker: ``python -m hepinfer.runner.loadgen_worker JOB.json``.

Set up like the event loop (``eventloop_worker.setup``, every thread with every pool slot),
then let LoadGen drive the queries of the job's scenario and write its summary, which is
parsed into the worker's part of the record (``hepinfer.runner.loadgen`` builds the rest).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.runner.loadgen_summary import parse_summary

# Offline samples handed to a framework thread at a time.
OFFLINE_CHUNK = 32


def execute(job: dict[str, Any], phases: Any) -> dict[str, Any]:
    """Set up like the event loop, then let LoadGen drive the queries."""
    from hepinfer._optional import require
    from hepinfer.measure.environment import environment
    from hepinfer.measure.memory import hwm_bytes as _peak_rss
    from hepinfer.measure.memory import rss_bytes as _rss
    from hepinfer.runner.eventloop_worker import setup
    from hepinfer.runner.harness import process_section

    lg = require("mlperf_loadgen", "hepinfer loadgen")
    params = job["loadgen"]
    scenario = params["scenario"]
    out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
    ready = setup(job, phases, out, every_slot=True)
    phases.enter("loadgen")

    issue, answered, stop = _query_handlers(lg, ready, scenario)
    settings, qps, event_ns, capacity = _test_settings(lg, ready, params)
    logdir = Path(job["result_path"]).with_suffix(".mlperf")
    logdir.mkdir(parents=True, exist_ok=True)
    wall = _start_test(lg, ready.pool, issue, stop, settings, _log_settings(lg, logdir))
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
            "sessions": len(ready.sessions),
        },
        "version": _version(),
    }
    out["memory"]["rss_after_run"] = _rss()
    out["memory"]["peak_rss"] = _peak_rss()
    out["backend"] = {"settings": ready.sessions[0].settings(), "shareable": ready.cls.shareable}
    out["process"] = process_section(job.get("parent_guard"))
    phases.enter("environment")
    out["environment"] = environment((*ready.cls.packages, "mlcommons-loadgen"))
    return out


def _query_handlers(
    lg: Any, ready: Any, scenario: str
) -> tuple[Callable[[list[Any]], None], list[int], Callable[[], None]]:
    """LoadGen's issue callback, the samples each framework thread answered, and the function
    that ends the framework threads. SingleStream answers on LoadGen's thread; Offline and
    Server put the samples on a queue that the framework threads (started here) drain."""
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

    def stop() -> None:
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join()

    return issue, answered, stop


def _test_settings(lg: Any, ready: Any, params: dict[str, Any]) -> tuple[Any, float, float, float | None]:
    """LoadGen's test settings for the job; the rate asked for (given, or estimated from a
    short untimed run), the median event time and the estimated events/s (None when given)."""
    scenario = params["scenario"]
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
    return settings, qps, event_ns, capacity


def _log_settings(lg: Any, logdir: Path) -> Any:
    """LoadGen's log settings: its logs in ``logdir``, no trace, nothing on stdout."""
    log_out = lg.LogOutputSettings()
    log_out.outdir = str(logdir)
    log_out.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_out
    log_settings.enable_trace = False
    return log_settings


def _start_test(
    lg: Any,
    pool: int,
    issue: Callable[[list[Any]], None],
    stop: Callable[[], None],
    settings: Any,
    log_settings: Any,
) -> float:
    """Run LoadGen's test over a sample library of ``pool`` samples; its wall time, s."""
    noop: Callable[[list[int]], None] = lambda _samples: None  # noqa: E731 - inputs already prepared
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(pool, pool, noop, noop)
    t0 = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
    finally:
        stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return time.perf_counter() - t0


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
    """``python -m hepinfer.runner.loadgen_worker JOB.json``."""
    from hepinfer.runner.protocol import serve

    return serve(Path(argv[1]), execute)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
