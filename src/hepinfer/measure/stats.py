"""Statistics of timing samples: median with a distribution-free confidence interval, tails."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Spread above which a measurement is flagged as noisy (IQR / median).
NOISY_IQR = 0.10
_Z = {0.90: 1.6449, 0.95: 1.9600, 0.99: 2.5758}


def median_ci(sorted_ns: Sequence[int] | np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of the median from order statistics (no distribution assumed).

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


def summarize(samples_ns: Sequence[int], batch: int, confidence: float = 0.95) -> dict[str, Any]:
    """Statistics of per-call times (ns) at a batch size; per-event times divide by the batch."""
    a = np.sort(np.asarray(samples_ns, dtype=np.float64))
    if a.size == 0:
        raise ValueError("no samples")
    median = float(np.median(a))
    q25, q75, p90, p99 = (float(x) for x in np.percentile(a, [25, 75, 90, 99]))
    lo, hi = median_ci(a, confidence)
    iqr = q75 - q25
    return {
        "n": int(a.size),
        "median_ns": median,
        "mean_ns": float(a.mean()),
        "min_ns": float(a[0]),
        "max_ns": float(a[-1]),
        "p90_ns": p90,
        "p99_ns": p99,
        "iqr_ns": iqr,
        "ci_low_ns": lo,
        "ci_high_ns": hi,
        "confidence": confidence,
        "per_event_median_ns": median / batch,
        "per_event_p99_ns": p99 / batch,
        "throughput_eps": batch * 1e9 / median if median > 0 else math.inf,
        "noisy": bool(median > 0 and iqr / median > NOISY_IQR),
    }
