"""Statistics and the stopping rule on synthetic samples with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.measure.stats import median_ci, relative_ci_halfwidth, summarize
from hepinfer.measure.timer import TimingPolicy, stop_reason, time_calls


def test_summary_of_known_samples() -> None:
    samples = list(range(1, 101))  # 1..100 ns
    s = summarize(samples, batch=4)
    assert s["n"] == 100
    assert s["median_ns"] == 50.5
    assert s["mean_ns"] == 50.5
    assert s["min_ns"] == 1 and s["max_ns"] == 100
    assert s["p90_ns"] == pytest.approx(90.1)
    assert s["p99_ns"] == pytest.approx(99.01)
    assert s["iqr_ns"] == pytest.approx(49.5)
    assert s["per_event_median_ns"] == pytest.approx(50.5 / 4)
    assert s["throughput_eps"] == pytest.approx(4 * 1e9 / 50.5)
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
    policy = TimingPolicy(min_calls=20, max_calls=1000, max_time_s=60, rel_ci=0.01)
    tight = [1000] * 19
    assert stop_reason(tight, 0.0, policy) is None  # fewer than min_calls
    assert stop_reason([*tight, 1000], 0.0, policy) == "converged"
    rng = np.random.default_rng(0)
    wide = [int(x) for x in rng.uniform(500, 1500, 30)]  # CI of the median >> 1%
    assert relative_ci_halfwidth(sorted(wide)) > 0.01
    assert stop_reason(wide, 0.0, policy) is None
    assert stop_reason(wide, 61.0, policy) == "max_time"
    assert stop_reason([1] * 1000, 0.0, policy) == "max_calls"


def test_time_calls_stops_on_max_calls_and_keeps_every_sample() -> None:
    calls = []
    policy = TimingPolicy(min_calls=10, max_calls=37, max_time_s=60, rel_ci=1e-9)
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
    from hepinfer.report.table import fmt_ns

    assert fmt_ns(999.6) == "1 us"
    assert fmt_ns(999.4) == "999 ns"
    assert fmt_ns(2_670.0) == "2.67 us"
    assert fmt_ns(1.5e9) == "1.5 s"
    assert fmt_ns(None) == "-"
