"""The timing loop: warm-up, then timed calls until the median is known well enough.

Stopping rule: after at least ``min_calls``, stop when the confidence interval of the median
is within +-``rel_ci`` of it; stop anyway at ``max_time_s`` or ``max_calls``. Every raw sample
is kept. The loop body is two perf_counter_ns calls around the backend's run, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.measure.stats import relative_ci_halfwidth


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and when to stop timing."""

    warmup_calls: int = 10
    warmup_s: float = 0.2
    min_calls: int = 50
    max_calls: int = 1_000_000
    max_time_s: float = 10.0
    rel_ci: float = 0.01
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.min_calls < 1 or self.max_calls < self.min_calls:
            raise ConfigurationError(
                f"timing: need 1 <= min_calls ({self.min_calls}) <= max_calls ({self.max_calls})"
            )
        if not 0 < self.rel_ci < 1:
            raise ConfigurationError(f"timing: rel_ci={self.rel_ci} must be between 0 and 1 (0.01 is 1%)")
        if self.max_time_s <= 0:
            raise ConfigurationError(f"timing: max_time_s={self.max_time_s} must be positive")

    def to_dict(self) -> dict[str, Any]:
        """For the record."""
        return asdict(self)


def stop_reason(samples: list[int], elapsed_s: float, policy: TimingPolicy) -> str | None:
    """Why timing should stop now, or None to go on."""
    n = len(samples)
    if n >= policy.max_calls:
        return "max_calls"
    if elapsed_s >= policy.max_time_s:
        return "max_time"
    if n >= policy.min_calls and relative_ci_halfwidth(sorted(samples), policy.confidence) <= policy.rel_ci:
        return "converged"
    return None


def timer_overhead_ns(repeat: int = 2000) -> float:
    """Median cost of one back-to-back perf_counter_ns pair: the floor under every sample."""
    pc = time.perf_counter_ns
    d = []
    for _ in range(repeat):
        t0 = pc()
        t1 = pc()
        d.append(t1 - t0)
    d.sort()
    return float(d[len(d) // 2])


def warm_up(
    call: Callable[[Any], Any], arg: Any, policy: TimingPolicy, sync: Callable[[], None] | None
) -> int:
    """Untimed calls: at least warmup_calls and warmup_s seconds. Returns the count."""
    n = 0
    start = time.perf_counter()
    while n < policy.warmup_calls or time.perf_counter() - start < policy.warmup_s:
        call(arg)
        if sync is not None:
            sync()
        n += 1
    return n


def time_calls(
    call: Callable[[Any], Any],
    arg: Any,
    policy: TimingPolicy,
    sync: Callable[[], None] | None = None,
) -> tuple[list[int], str]:
    """Timed calls of ``call(arg)`` (and ``sync()`` inside the timed region when given).

    Convergence is checked at geometrically growing counts so that sorting stays a small
    fraction of the run; returns the samples (ns) and why timing stopped.
    """
    pc = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    start = time.perf_counter()
    next_check = policy.min_calls
    while True:
        todo = max(1, min(next_check, policy.max_calls) - len(samples))
        if sync is None:
            for _ in range(todo):
                t0 = pc()
                call(arg)
                t1 = pc()
                append(t1 - t0)
        else:
            for _ in range(todo):
                t0 = pc()
                call(arg)
                sync()
                t1 = pc()
                append(t1 - t0)
        elapsed = time.perf_counter() - start
        reason = stop_reason(samples, elapsed, policy)
        if reason is not None:
            return samples, reason
        # Grow by 25%, but never past about a tenth of the remaining time budget per chunk.
        per_call = elapsed / len(samples)
        budget = max(1, int(0.1 * policy.max_time_s / per_call)) if per_call > 0 else 1
        next_check = len(samples) + max(1, min(len(samples) // 4, budget))
