"""The timing loop: timer overhead, warm-up, then timed calls until the median is known well enough.

``measure`` is the one call a worker makes, and it does, in this order and with nothing in
between: measure the timer's own cost, warm up, time. Timing stops

- at ``max_time_s`` of timing (checked after every call, so within about one call of it),
- at ``max_calls`` calls,
- or, once at least ``min_calls`` calls and ``min_time_s`` seconds are done, when the 95%
  confidence interval of the median is within +-``rel_ci`` of it ("converged").

``min_time_s`` (1 s by default) gives a fast model enough samples for its tails to mean
something (a 10 us call collects ~10^5), while a 100 ms model still stops at the time cap.

The loop body is two ``perf_counter_ns`` calls around the backend's call, a store into a
preallocated int64 buffer (8 bytes a sample, see ``_buffer``) and an integer compare with the
deadline. The
convergence check (sorting blocks of samples) disturbs caches and branch predictors, so after
each check ``rewarm_calls`` untimed calls are made before timing resumes; checks come at
geometrically growing counts so they stay few.

This module imports only the standard library (and hepinfer.errors), so that a backend can run
its worker under another interpreter, and so that the loop adds no numpy state (``numpy.ma``
is imported lazily by ``numpy.median``) to the inference memory it is measured beside.

The median's confidence interval in the stopping rule is the batch-medians interval
(``batch_medians``): consecutive samples of a real run are correlated (lag-1 autocorrelation
0.26-0.30 is typical), and an interval that assumes independence is then too narrow.
"""

from __future__ import annotations

import math
import mmap
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from operator import mul
from typing import Any

from hepinfer.errors import ConfigurationError

# Batch medians: at most this many blocks (a steadier variance estimate needs more, blocks long
# against the correlation time need fewer), at least MIN_BLOCKS, each at least MIN_BLOCK long
# and BLOCK_TAUS times the correlation time estimated from the lag-1 autocorrelation.
MAX_BLOCKS = 20
MIN_BLOCKS = 5
MIN_BLOCK = 5
BLOCK_TAUS = 3.0
# Fewer samples than this: no batch interval (MIN_BLOCKS blocks of MIN_BLOCK).
MIN_BATCH_SAMPLES = MIN_BLOCKS * MIN_BLOCK
# After a check that did not converge, the next comes after this fraction more calls.
CHECK_GROWTH = 0.5


@dataclass(frozen=True)
class TimingPolicy:
    """How long to warm up and when to stop timing.

    ``min_time_s`` is a floor on timing (unless ``max_time_s`` or ``max_calls`` come first);
    ``max_time_s`` caps timing (warm-up is capped by it separately); ``rewarm_calls`` untimed
    calls follow every convergence check.
    """

    warmup_calls: int = 10
    warmup_s: float = 0.2
    min_calls: int = 50
    max_calls: int = 1_000_000
    max_time_s: float = 10.0
    rel_ci: float = 0.01
    confidence: float = 0.95
    min_time_s: float = 1.0
    rewarm_calls: int = 2

    def __post_init__(self) -> None:
        if self.min_calls < 1 or self.max_calls < self.min_calls:
            raise ConfigurationError(
                f"timing: need 1 <= min_calls ({self.min_calls}) <= max_calls ({self.max_calls})"
            )
        if not 0 < self.rel_ci < 1:
            raise ConfigurationError(f"timing: rel_ci={self.rel_ci} must be between 0 and 1 (0.01 is 1%)")
        if self.max_time_s <= 0:
            raise ConfigurationError(f"timing: max_time_s={self.max_time_s} must be positive")
        if self.min_time_s < 0:
            raise ConfigurationError(f"timing: min_time_s={self.min_time_s} must be 0 or more")
        if self.rewarm_calls < 0:
            raise ConfigurationError(f"timing: rewarm_calls={self.rewarm_calls} must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        """For the record."""
        return asdict(self)


@dataclass(frozen=True)
class TimedRun:
    """What ``measure`` returns: every raw sample and how the run went.

    ``samples_ns`` is a read-only sequence of int64, 8 bytes a sample (a ``memoryview``:
    ``len``, indexing, ``tolist()``, ``numpy.asarray`` without a copy; ``to_dict`` gives a list).
    ``timed_s`` is the sum of the samples, ``wall_s`` the loop's wall time (checks and
    re-warm calls included). ``rewarm_calls`` counts the untimed calls made after convergence
    checks, ``checks`` the checks themselves.
    """

    samples_ns: memoryview
    stop_reason: str
    warmup_calls: int
    rewarm_calls: int
    checks: int
    timer_overhead_ns: float
    timed_s: float
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the samples as a list of int, the rest as they are."""
        return {
            "samples_ns": self.samples_ns.tolist(),
            "stop_reason": self.stop_reason,
            "warmup_calls": self.warmup_calls,
            "rewarm_calls": self.rewarm_calls,
            "checks": self.checks,
            "timer_overhead_ns": self.timer_overhead_ns,
            "timed_s": self.timed_s,
            "wall_s": self.wall_s,
        }


@dataclass(frozen=True)
class BatchMedians:
    """The batch-medians estimate of the median's uncertainty (see ``batch_medians``)."""

    centre: float  # median of the block medians (the loop's cheap stand-in for the median)
    halfwidth: float  # of the confidence interval of the median
    blocks: int
    lag1: float  # lag-1 autocorrelation of the samples

    @property
    def relative_halfwidth(self) -> float:
        """Half the width of the interval relative to the centre."""
        return self.halfwidth / self.centre if self.centre > 0 else math.inf


def lag1_autocorrelation(samples: Sequence[float]) -> float:
    """Lag-1 autocorrelation of the samples (exact sums for int samples; 0.0 for a constant run)."""
    n = len(samples)
    if n < 3:
        return 0.0
    s = sum(samples)
    q = sum(map(mul, samples, samples))
    it = iter(samples)
    next(it)
    p = sum(map(mul, samples, it))  # sum of x[i] * x[i+1]
    var = q / n - (s / n) ** 2
    if var <= 0:
        return 0.0
    cov = p / (n - 1) - (s / n) ** 2
    return max(-1.0, min(1.0, cov / var))


def batch_medians(samples: Sequence[float], confidence: float = 0.95) -> BatchMedians:
    """Confidence interval of the median that holds for autocorrelated samples.

    The samples, in time order, are cut into k consecutive blocks (5 <= k <= 20), each at
    least 3 correlation times long, the correlation time being (1+r)/(1-r) from the lag-1
    autocorrelation r. Blocks that long are nearly independent, so the spread of their
    medians says how much the median of the whole run moves: halfwidth =
    t(k-1) * sd(block medians) / sqrt(k). Pure Python; needs at least 25 samples.
    """
    n = len(samples)
    if n < MIN_BATCH_SAMPLES:
        raise ValueError(f"batch medians need at least {MIN_BATCH_SAMPLES} samples, got {n}")
    r = lag1_autocorrelation(samples)
    tau = (1 + r) / (1 - r) if 0 < r < 1 else (1.0 if r <= 0 else float(n))
    block = max(MIN_BLOCK, math.ceil(BLOCK_TAUS * tau))
    k = max(MIN_BLOCKS, min(MAX_BLOCKS, n // block))
    meds = []
    for i in range(k):
        part = sorted(samples[i * n // k : (i + 1) * n // k])
        m = len(part)
        meds.append(part[m // 2] if m % 2 else (part[m // 2 - 1] + part[m // 2]) / 2)
    mean = sum(meds) / k
    sd = math.sqrt(sum((x - mean) ** 2 for x in meds) / (k - 1))
    meds.sort()
    centre = meds[k // 2] if k % 2 else (meds[k // 2 - 1] + meds[k // 2]) / 2
    return BatchMedians(float(centre), t_quantile(confidence, k - 1) * sd / math.sqrt(k), k, r)


def normal_quantile(p: float) -> float:
    """The standard normal's quantile at ``p`` (0 < p < 1): Newton's method on ``math.erfc``
    in the lower tail (the upper by symmetry), to about double precision. (``statistics.NormalDist``
    would do; importing statistics costs every worker ~20 ms, with random and fractions.)"""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile of p={p}: p must be within (0, 1)")
    if p > 0.5:
        return -normal_quantile(1.0 - p)
    z, root2, density = 0.0, math.sqrt(2.0), 1.0 / math.sqrt(2.0 * math.pi)
    for _ in range(200):
        step = (0.5 * math.erfc(-z / root2) - p) / (density * math.exp(-0.5 * z * z))
        z -= step
        if abs(step) <= 1e-14 * max(1.0, abs(z)):
            break
    return z


def t_quantile(confidence: float, dof: int) -> float:
    """Two-sided Student-t quantile, Cornish-Fisher expansion (within 0.3% for dof >= 4)."""
    z = normal_quantile(0.5 + confidence / 2.0)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def converged(samples: Sequence[int], confidence: float, rel_ci: float) -> bool:
    """Whether the batch-medians interval of the median is within +-rel_ci of it."""
    if len(samples) < MIN_BATCH_SAMPLES:
        return False
    return batch_medians(samples, confidence).relative_halfwidth <= rel_ci


def stop_reason(samples: Sequence[int], elapsed_s: float, policy: TimingPolicy) -> str | None:
    """Why timing should stop now, or None to go on (the rule ``measure`` applies)."""
    n = len(samples)
    if n >= policy.max_calls:
        return "max_calls"
    if elapsed_s >= policy.max_time_s:
        return "max_time"
    if (
        n >= policy.min_calls
        and elapsed_s >= policy.min_time_s
        and converged(samples, policy.confidence, policy.rel_ci)
    ):
        return "converged"
    return None


def timer_overhead_ns(repeat: int = 2000) -> float:
    """Median cost of one back-to-back perf_counter_ns pair: the floor under every sample."""
    pc = time.perf_counter_ns
    d = array("q", bytes(8 * repeat))
    for i in range(repeat):
        t0 = pc()
        t1 = pc()
        d[i] = t1 - t0
    s = sorted(d)
    return float(s[repeat // 2])


def warm_up(
    call: Callable[[Any], Any], arg: Any, policy: TimingPolicy, sync: Callable[[], None] | None
) -> int:
    """Untimed calls: at least warmup_calls and warmup_s seconds, but never longer than
    max_time_s (a slow model is not warmed for minutes). Returns the count."""
    pc = time.perf_counter_ns
    floor_ns = int(policy.warmup_s * 1e9)
    cap_ns = int(policy.max_time_s * 1e9)
    n = 0
    start = now = pc()
    while (n < policy.warmup_calls or now - start < floor_ns) and (n == 0 or now - start < cap_ns):
        call(arg)
        if sync is not None:
            sync()
        n += 1
        now = pc()
    return n


def _buffer(policy: TimingPolicy) -> memoryview:
    """Room for max_calls samples of 8 bytes, in an anonymous private mapping: the OS gives
    it pages only as samples are written, so it costs 8 bytes a sample taken, is never copied
    and never grows. Where mmap cannot do that, a zeroed array('q') of max_calls."""
    size = 8 * policy.max_calls
    private, anonymous = getattr(mmap, "MAP_PRIVATE", None), getattr(mmap, "MAP_ANONYMOUS", None)
    if private is not None and anonymous is not None:
        return memoryview(mmap.mmap(-1, size, flags=private | anonymous)).cast("q")
    return memoryview(array("q", bytes(size)))


def measure(
    call: Callable[[Any], Any],
    arg: Any,
    policy: TimingPolicy,
    sync: Callable[[], None] | None = None,
) -> TimedRun:
    """Timer overhead, warm-up, then timed calls of ``call(arg)`` (``sync()`` inside the timed
    region when given), in that order with nothing in between. See the module docstring."""
    overhead = timer_overhead_ns()
    buf = _buffer(policy)  # allocated before warm-up, so that nothing comes between it and timing
    warm = warm_up(call, arg, policy, sync)
    return _timed(call, arg, policy, sync, overhead, warm, buf)


def time_calls(
    call: Callable[[Any], Any],
    arg: Any,
    policy: TimingPolicy,
    sync: Callable[[], None] | None = None,
) -> tuple[list[int], str]:
    """The timed part of ``measure`` alone (no overhead, no warm-up): (samples, stop reason).

    Kept for callers of the old API; a worker should call ``measure``.
    """
    run = _timed(call, arg, policy, sync, 0.0, 0, _buffer(policy))
    return run.samples_ns.tolist(), run.stop_reason


def _timed(
    call: Callable[[Any], Any],
    arg: Any,
    policy: TimingPolicy,
    sync: Callable[[], None] | None,
    overhead: float,
    warm: int,
    buf: memoryview,
) -> TimedRun:
    pc = time.perf_counter_ns
    n = rewarm = checks = 0
    next_check = policy.min_calls
    start = t1 = pc()
    deadline = start + int(policy.max_time_s * 1e9)
    min_end = start + int(policy.min_time_s * 1e9)
    while True:
        limit = min(next_check, policy.max_calls)
        if sync is None:
            while n < limit:
                t0 = pc()
                call(arg)
                t1 = pc()
                buf[n] = t1 - t0
                n += 1
                if t1 >= deadline:
                    break
        else:
            while n < limit:
                t0 = pc()
                call(arg)
                sync()
                t1 = pc()
                buf[n] = t1 - t0
                n += 1
                if t1 >= deadline:
                    break
        if t1 >= deadline:
            reason = "max_time"
            break
        if n >= policy.max_calls:
            reason = "max_calls"
            break
        if t1 < min_end:
            # No statistics before min_time_s: the next look comes where it should be reached.
            remaining = (min_end - t1) * n // max(1, t1 - start)
            next_check = n + max(1, remaining)
            continue
        else:
            checks += 1
            if converged(buf[:n], policy.confidence, policy.rel_ci):
                reason = "converged"
                break
            next_check = n + max(1, int(n * CHECK_GROWTH))
        # Untimed calls, so that the check's disturbance of caches is not in the next sample.
        t1 = pc()
        for _ in range(policy.rewarm_calls):
            if t1 >= deadline:
                break
            call(arg)
            if sync is not None:
                sync()
            rewarm += 1
            t1 = pc()
        if t1 >= deadline:
            reason = "max_time"
            break
    wall_ns = pc() - start
    samples = buf[:n].toreadonly()
    return TimedRun(
        samples_ns=samples,
        stop_reason=reason,
        warmup_calls=warm,
        rewarm_calls=rewarm,
        checks=checks,
        timer_overhead_ns=overhead,
        timed_s=sum(samples) / 1e9,
        wall_s=wall_ns / 1e9,
    )
