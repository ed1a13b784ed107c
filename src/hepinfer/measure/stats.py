"""Statistics of timing samples: the median with a confidence interval, tails where they mean something.

What each number means:

- ``median_ns``: the median call time; ``ci_low_ns``/``ci_high_ns`` its confidence interval,
  the wider of the order-statistic interval (exact for independent samples) and the
  batch-medians interval (holds under autocorrelation, see ``timer.batch_medians``);
  ``ci_method`` names what was used.
- ``throughput_eps``: batch / median, *median-based*: the rate of a typical call, not what a
  run sustains. ``sustained_eps``: n * batch / sum(samples), the rate the timed calls achieved
  (slow outliers included).
- ``p90_ns`` needs n >= 100 and ``p99_ns`` n >= 1000 (at least 10 samples beyond the
  quantile); with fewer they are None, ``p90_valid``/``p99_valid`` are False and ``tail_note``
  says why. ``p99_ci_low_ns``/``p99_ci_high_ns``: order-statistic interval of p99
  (independence assumed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hepinfer.measure.timer import MIN_BATCH_SAMPLES, batch_medians

# Fewest samples for a quantile: at least 10 beyond it.
P90_MIN_N = 100
P99_MIN_N = 1000
# Spread above which a measurement is flagged as noisy (IQR / median).
NOISY_IQR = 0.10
_Z = {0.90: 1.6449, 0.95: 1.9600, 0.99: 2.5758}


def median_ci(sorted_ns: Sequence[int] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the median from order statistics (no distribution assumed, but
    independent samples: under autocorrelation it is too narrow, see ``summarize``).

    The ranks are n/2 -+ z*sqrt(n)/2 (normal approximation of the binomial), the usual
    distribution-free interval; for fewer than 6 samples it is the full range.
    """
    n = len(sorted_ns)
    if n == 0:
        raise ValueError("no samples")
    z = _Z.get(confidence) or _z_of(confidence)
    half = z * math.sqrt(n) / 2.0
    lo = max(0, math.floor(n / 2.0 - half) - 1)
    hi = min(n - 1, math.ceil(n / 2.0 + half))
    if n < 6:
        lo, hi = 0, n - 1
    return float(sorted_ns[lo]), float(sorted_ns[hi])


def _z_of(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def relative_ci_halfwidth(sorted_ns: Sequence[int] | np.ndarray, confidence: float = 0.95) -> float:
    """Half the width of the median's confidence interval, relative to the median."""
    lo, hi = median_ci(sorted_ns, confidence)
    med = float(np.median(sorted_ns))
    return (hi - lo) / 2.0 / med if med > 0 else math.inf


def quantile_ci(
    sorted_ns: Sequence[int] | np.ndarray, q: float, confidence: float = 0.95
) -> tuple[float, float]:
    """Order-statistic confidence interval of the q-quantile (independent samples assumed):
    ranks n*q -+ z*sqrt(n*q*(1-q)), the normal approximation of the binomial."""
    n = len(sorted_ns)
    z = _Z.get(confidence) or _z_of(confidence)
    half = z * math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - half) - 1)
    hi = min(n - 1, math.ceil(n * q + half))
    return float(sorted_ns[lo]), float(sorted_ns[hi])


def summarize(samples_ns: Sequence[int], batch: int, confidence: float = 0.95) -> dict[str, Any]:
    """Statistics of per-call times (ns) at a batch size; per-event times divide by the batch.

    See the module docstring for what each field means and when the tails are given.
    """
    raw = np.asarray(samples_ns, dtype=np.float64)  # in time order, for the batch medians
    if raw.size == 0:
        raise ValueError("no samples")
    a = np.sort(raw)
    n = int(a.size)
    median = float(np.median(a))
    q25, q75, p90, p99 = (float(x) for x in np.percentile(a, [25, 75, 90, 99]))
    lo, hi = median_ci(a, confidence)
    blocks, lag1 = None, None
    if n >= MIN_BATCH_SAMPLES:
        bm = batch_medians(raw.tolist(), confidence)
        lo, hi = min(lo, median - bm.halfwidth), max(hi, median + bm.halfwidth)
        blocks, lag1 = bm.blocks, bm.lag1
        method = f"order-statistic+batch-medians(k={bm.blocks})"
    else:
        method = f"order-statistic (n<{MIN_BATCH_SAMPLES}: independence assumed)"
    p90_valid, p99_valid = n >= P90_MIN_N, n >= P99_MIN_N
    notes = [
        f"{name} needs n >= {need}"
        for name, need, ok in (("p90", P90_MIN_N, p90_valid), ("p99", P99_MIN_N, p99_valid))
        if not ok
    ]
    p99_lo, p99_hi = quantile_ci(a, 0.99, confidence) if p99_valid else (None, None)
    iqr = q75 - q25
    total = float(raw.sum())
    return {
        "n": n,
        "median_ns": median,
        "mean_ns": float(a.mean()),
        "min_ns": float(a[0]),
        "max_ns": float(a[-1]),
        "p90_ns": p90 if p90_valid else None,
        "p99_ns": p99 if p99_valid else None,
        "p90_valid": p90_valid,
        "p99_valid": p99_valid,
        "tail_note": f"{', '.join(notes)} (n={n})" if notes else None,
        "p99_ci_low_ns": p99_lo,
        "p99_ci_high_ns": p99_hi,
        "iqr_ns": iqr,
        "ci_low_ns": lo,
        "ci_high_ns": hi,
        "ci_method": method,
        "ci_blocks": blocks,
        "lag1_autocorr": lag1,
        "confidence": confidence,
        "per_event_median_ns": median / batch,
        "per_event_p99_ns": p99 / batch if p99_valid else None,
        "throughput_eps": batch * 1e9 / median if median > 0 else math.inf,
        "sustained_eps": n * batch * 1e9 / total if total > 0 else math.inf,
        "noisy": bool(median > 0 and iqr / median > NOISY_IQR),
    }
