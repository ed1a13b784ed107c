"""Statistics and the stopping rule on synthetic samples with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.measure.stats import median_ci, quantile_ci, relative_ci_halfwidth, summarize
from hepinfer.measure.timer import TimingPolicy, batch_medians, converged, stop_reason, time_calls


def test_summary_of_known_samples() -> None:
    samples = list(range(1, 101))  # 1..100 ns
    s = summarize(samples, batch=4)
    assert s["n"] == 100
    assert s["median_ns"] == 50.5
    assert s["mean_ns"] == 50.5
    assert s["min_ns"] == 1 and s["max_ns"] == 100
    assert s["p90_ns"] == pytest.approx(90.1) and s["p90_valid"] is True
    # 100 samples: the "p99" would be the largest sample but one; none is given.
    assert s["p99_ns"] is None and s["per_event_p99_ns"] is None and s["p99_valid"] is False
    assert s["p99_ci_low_ns"] is None and s["tail_note"] == "p99 needs n >= 1000 (n=100)"
    assert s["iqr_ns"] == pytest.approx(49.5)
    assert s["per_event_median_ns"] == pytest.approx(50.5 / 4)
    assert s["throughput_eps"] == pytest.approx(4 * 1e9 / 50.5)  # median-based
    assert s["sustained_eps"] == pytest.approx(100 * 4 * 1e9 / 5050)  # n * batch / sum
    assert s["noisy"] is True  # IQR/median ~ 0.98
    assert s["ci_low_ns"] <= 50.5 <= s["ci_high_ns"]


def test_median_ci_ranks_and_coverage() -> None:
    # n=100, z=1.96: ranks 50 -+ 9.8 -> indices 39 and 60 (0-based), the textbook interval.
    lo, hi = median_ci(np.arange(100), 0.95)
    assert (lo, hi) == (39.0, 60.0)
    # Coverage: the interval holds the true median of a skewed distribution ~95% of the time.
    rng = np.random.default_rng(1)
    true_median = np.log(2)  # exponential(1)
    hits = 0
    for _ in range(2000):
        x = np.sort(rng.exponential(1.0, 200))
        lo, hi = median_ci(x, 0.95)
        hits += lo <= true_median <= hi
    assert 0.93 <= hits / 2000 <= 0.98


def test_constant_samples_are_not_noisy() -> None:
    s = summarize([1000] * 50, batch=1)
    assert s["noisy"] is False
    assert s["ci_low_ns"] == s["ci_high_ns"] == 1000


def test_stopping_rule() -> None:
    policy = TimingPolicy(min_calls=30, max_calls=1000, max_time_s=60, rel_ci=0.01, min_time_s=0.5)
    tight = [1000] * 29
    assert stop_reason(tight, 1.0, policy) is None  # fewer than min_calls
    assert stop_reason([*tight, 1000], 1.0, policy) == "converged"
    assert stop_reason([*tight, 1000], 0.4, policy) is None  # before min_time_s
    rng = np.random.default_rng(0)
    wide = [int(x) for x in rng.uniform(500, 1500, 30)]  # CI of the median >> 1%
    assert relative_ci_halfwidth(sorted(wide)) > 0.01
    assert stop_reason(wide, 1.0, policy) is None
    assert stop_reason(wide, 61.0, policy) == "max_time"
    assert stop_reason([1] * 1000, 0.0, policy) == "max_calls"


def test_time_calls_stops_on_max_calls_and_keeps_every_sample() -> None:
    calls = []
    policy = TimingPolicy(min_calls=10, max_calls=37, max_time_s=60, rel_ci=1e-9, rewarm_calls=0)
    samples, reason = time_calls(calls.append, 1, policy)
    assert reason == "max_calls"
    assert len(samples) == len(calls) == 37
    assert all(isinstance(s, int) and s >= 0 for s in samples)


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="rel_ci"):
        TimingPolicy(rel_ci=5)
    with pytest.raises(ConfigurationError, match="min_calls"):
        TimingPolicy(min_calls=10, max_calls=5)


def test_durations_read_in_the_right_unit() -> None:
    from hepinfer.report.cells import fmt_ns

    assert fmt_ns(999.6) == "1 us"
    assert fmt_ns(999.4) == "999 ns"
    assert fmt_ns(2_670.0) == "2.67 us"
    assert fmt_ns(1.5e9) == "1.5 s"
    assert fmt_ns(None) == "-"


def test_tails_only_where_they_mean_something() -> None:
    rng = np.random.default_rng(3)
    few = summarize([int(x) for x in rng.exponential(1000, 99)], batch=1)
    assert few["p90_ns"] is None and few["p99_ns"] is None
    assert few["tail_note"] == "p90 needs n >= 100, p99 needs n >= 1000 (n=99)"
    x = rng.exponential(1000.0, 5000)
    s = summarize([int(v) for v in x], batch=2)
    assert s["p99_valid"] and s["tail_note"] is None
    assert s["p99_ns"] == pytest.approx(float(np.percentile(x.astype(int), 99)))
    assert s["per_event_p99_ns"] == pytest.approx(s["p99_ns"] / 2)
    assert s["p99_ci_low_ns"] <= s["p99_ns"] <= s["p99_ci_high_ns"]
    # The p99 interval covers the true p99 of exponential(1000) (1000 ln 100) ~95% of the time.
    true_p99 = 1000 * math.log(100)
    hits = 0
    for _ in range(400):
        lo, hi = quantile_ci(np.sort(rng.exponential(1000.0, 2000)), 0.99)
        hits += lo <= true_p99 <= hi
    assert 0.90 <= hits / 400 <= 0.99


def _ar1_timings(rng: np.random.Generator, n: int, rho: float) -> list[int]:
    """Call times (ns) with lag-1 autocorrelation rho: 1000 * exp(0.2 X), X a stationary
    Gaussian AR(1); the true median is 1000."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    c = math.sqrt(1 - rho * rho)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + c * e[i]
    return [int(v) for v in np.rint(1000 * np.exp(0.2 * x))]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_median_ci_covers_under_autocorrelation(rho: float) -> None:
    rng = np.random.default_rng(int(rho * 10) + 20)
    hits = old = 0
    for _ in range(400):
        y = _ar1_timings(rng, 2000, rho)
        s = summarize(y, batch=1)
        hits += s["ci_low_ns"] <= 1000 <= s["ci_high_ns"]
        lo, hi = median_ci(sorted(y))  # the order-statistic interval alone (independence)
        old += lo <= 1000 <= hi
    assert s["ci_method"] == "order-statistic+batch-medians(k=20)"
    assert hits / 400 >= 0.90
    if rho == 0.9:
        assert old / 400 < 0.6  # what the interval gave before
        assert s["lag1_autocorr"] == pytest.approx(0.9, abs=0.05)


@pytest.mark.slow
def test_stopping_rule_covers_under_strong_autocorrelation() -> None:
    # Stop as measure() does (first check at 50 calls, then every 1.5x) at rel_ci 3%; the
    # interval reported at the stop must still hold the true median. The old rule (the
    # order-statistic interval) stopped early and covered about half the time.
    rng = np.random.default_rng(9)
    hits = 0
    for _ in range(200):
        y = _ar1_timings(rng, 30000, 0.9)
        n = 50
        while n < len(y) and not converged(y[:n], 0.95, 0.03):
            n += n // 2
        s = summarize(y[:n], batch=1)
        hits += s["ci_low_ns"] <= 1000 <= s["ci_high_ns"]
    assert hits / 200 >= 0.88


def test_batch_medians_of_independent_samples_match_the_order_statistic_interval() -> None:
    rng = np.random.default_rng(4)
    y = [int(v) for v in rng.normal(10_000, 500, 20_000)]
    bm = batch_medians(y)
    lo, hi = median_ci(sorted(y))
    assert bm.blocks == 20 and abs(bm.lag1) < 0.05
    assert bm.halfwidth == pytest.approx((hi - lo) / 2, rel=0.4)
    assert bm.centre == pytest.approx(10_000, rel=0.01)


def test_report_labels_say_median_and_withhold_p99() -> None:
    from rich.console import Console

    from hepinfer.report.cells import p99_cell
    from hepinfer.report.table import bench_table

    few = summarize(list(range(1000, 1050)), batch=1)
    many = summarize(list(range(1000, 3000)), batch=1)
    assert p99_cell(few) == "n<1000" and p99_cell(many) == "2.98 us"
    assert p99_cell({"n": 5000, "per_event_p99_ns": None}) == "—"
    assert p99_cell({"n": 50, "per_event_p99_ns": 123.0}) == "n<1000"  # an old record's "p99"
    record = {
        "record_id": "r",
        "status": "ok",
        "key": {"model": "m", "backend": "onnxruntime", "options": {}, "batch": 1, "threads": 1},
        "model": {"reference_backend": "pytorch"},
        "stats": few,
        "timing": {"stop_reason": "converged", "timer_overhead_ns": 1.0},
    }
    console = Console(width=300, record=True)
    console.print(bench_table([record]))
    text = console.export_text()
    assert "events/s (median)" in text and "GFLOP/s (median)" in text
    assert "n<1000" in text
