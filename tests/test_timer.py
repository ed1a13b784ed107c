"""The timing loop on real calls: order of its parts, re-warm after checks, deadline, buffer."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from hepinfer.measure.timer import CHECK_GROWTH, TimedRun, TimingPolicy, measure, time_calls

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run_isolated(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this tree's hepinfer; its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_timing_follows_warm_up_with_nothing_in_between() -> None:
    # The call stamps its start; the gap from the last warm-up call to the first timed one must
    # be far below what timer_overhead_ns() (4000 perf_counter_ns calls) or a buffer
    # allocation costs, which is what used to sit there. Least of three runs: noise only adds.
    pc = time.perf_counter_ns
    policy = TimingPolicy(warmup_calls=20, warmup_s=0.0, min_calls=200, max_calls=200, min_time_s=0.0)
    gaps, floors = [], []
    for _ in range(3):
        stamps: list[int] = []
        t_enter = pc()
        run = measure(lambda s: s.append(pc()), stamps, policy)
        assert len(stamps) == run.warmup_calls + len(run.samples_ns) + run.rewarm_calls
        w = run.warmup_calls
        gaps.append(stamps[w] - stamps[w - 1])
        floors.append(stamps[0] - t_enter)  # the overhead measurement comes before warm-up
        between_timed = sorted(b - a for a, b in zip(stamps[w:], stamps[w + 1 :], strict=False))
        assert run.stop_reason == "max_calls" and len(run.samples_ns) == 200
    median_timed_gap = between_timed[len(between_timed) // 2]
    assert min(floors) > 4000 * 10  # >= 4000 perf_counter_ns calls of >= 10 ns each ran first
    assert min(gaps) < 20 * median_timed_gap
    assert min(gaps) < min(floors) / 10


def test_every_check_is_followed_by_counted_rewarm_calls() -> None:
    calls: list[int] = []
    policy = TimingPolicy(min_calls=50, max_calls=5000, min_time_s=0.0, rel_ci=1e-9, rewarm_calls=3)
    run = measure(calls.append, 1, policy)
    # Checks at 50, 75, 112, ... (x1.5) below 5000: none converges at rel_ci 1e-9.
    expected, n = [], 50
    while n < 5000:
        expected.append(n)
        n += int(n * CHECK_GROWTH)
    assert run.stop_reason == "max_calls"
    assert run.checks == len(expected) == 12
    assert run.rewarm_calls == 3 * run.checks
    assert len(calls) == run.warmup_calls + len(run.samples_ns) + run.rewarm_calls
    assert len(run.samples_ns) == 5000  # the re-warm calls are not samples


def test_max_time_stops_within_a_call_even_below_min_calls() -> None:
    # 20 ms a call, 0.3 s allowed: the old loop ran a whole chunk of min_calls (50 calls, 1 s).
    policy = TimingPolicy(min_calls=50, max_time_s=0.3, rel_ci=1e-9)
    samples, reason = time_calls(lambda _: time.sleep(0.02), None, policy)
    assert reason == "max_time"
    assert len(samples) < 50
    assert sum(samples[:-1]) < 0.3e9  # every call but the last started before the deadline
    run = measure(lambda _: time.sleep(0.02), None, policy)
    assert run.stop_reason == "max_time" and len(run.samples_ns) < 50
    assert run.wall_s >= 0.3 and sum(run.samples_ns[:-1]) < 0.3e9
    assert run.warmup_calls == 10


def test_min_time_gives_fast_calls_enough_samples_for_p99() -> None:
    policy = TimingPolicy(min_calls=50, rel_ci=0.5, min_time_s=0.2, max_time_s=5.0)
    run = measure(lambda x: x + 1, 1, policy)
    assert run.stop_reason == "converged"  # at the first check after min_time_s
    assert run.checks == 1
    assert run.wall_s >= 0.2
    assert len(run.samples_ns) >= 1000
    assert TimingPolicy().min_time_s == 1.0 and TimingPolicy().rewarm_calls == 2


def test_timed_run_record() -> None:
    run = measure(lambda x: x, 1, TimingPolicy(min_calls=30, max_calls=30, min_time_s=0.0))
    assert isinstance(run, TimedRun)
    d = run.to_dict()
    assert d["samples_ns"] == list(run.samples_ns) and len(d["samples_ns"]) == 30
    assert d["timed_s"] == sum(run.samples_ns) / 1e9 <= d["wall_s"]
    assert d["stop_reason"] == "max_calls" and d["timer_overhead_ns"] > 0
    assert set(d) == {
        "samples_ns",
        "stop_reason",
        "warmup_calls",
        "rewarm_calls",
        "checks",
        "timer_overhead_ns",
        "timed_s",
        "wall_s",
    }


def test_timer_runs_without_numpy() -> None:
    out = _run_isolated(
        """
        import sys
        sys.modules["numpy"] = None  # any import of numpy now fails
        import hepinfer.measure.timer as t
        p = t.TimingPolicy(min_calls=50, max_calls=3000, min_time_s=0.0, rel_ci=1e-9)
        run = t.measure(lambda x: x * 2, 3, p)
        loaded = [k for k, v in sys.modules.items() if k.startswith("numpy") and v is not None]
        print(run.stop_reason, len(run.samples_ns), run.checks, len(loaded))
        """
    )
    assert out.split() == ["max_calls", "3000", "11", "0"]  # 11 checks: 50, 75, ... 2868


def test_measure_imports_no_numpy_ma() -> None:
    # numpy.median imports numpy.ma lazily: the old stopping rule put it in the inference memory.
    out = _run_isolated(
        """
        import sys
        import numpy
        import hepinfer.measure.timer as t
        assert "numpy.ma" not in sys.modules
        p = t.TimingPolicy(min_calls=50, max_calls=2000, min_time_s=0.0, rel_ci=1e-9)
        run = t.measure(lambda x: x, 1, p)
        print(run.checks, "numpy.ma" in sys.modules)
        """
    )
    assert out.split() == ["10", "False"]


@pytest.mark.slow
def test_samples_take_at_most_8_bytes_each() -> None:
    n = 200_000
    policy = TimingPolicy(min_calls=50, max_calls=n, min_time_s=0.0, max_time_s=600, rel_ci=1e-9)
    tracemalloc.start()
    try:
        run = measure(lambda x: x, 1, policy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(run.samples_ns) == n
    assert run.samples_ns.itemsize == 8 and run.samples_ns.nbytes == 8 * n
    # Python objects made while timing: the checks' sorted blocks (a twentieth of the samples
    # each), not a list of every sample (>= 36 bytes a sample).
    assert peak / n < 4


def test_the_normal_quantile_is_statistics_own() -> None:
    # The timer computes it without importing statistics (a worker's start is ~20 ms shorter).
    import random
    from statistics import NormalDist

    from hepinfer.measure.timer import normal_quantile

    rng = random.Random(7)
    for p in [0.5, 0.975, 0.995, 0.9995, 1e-6, 1e-12, 1 - 1e-9, *(rng.random() for _ in range(2000))]:
        want = NormalDist().inv_cdf(p)
        assert abs(normal_quantile(p) - want) <= 1e-12 * max(1.0, abs(want)), p
    with pytest.raises(ValueError, match="within"):
        normal_quantile(1.0)
