"""Distance in units in the last place (ULP): how many representable floats lie between two.

Floats of one format are mapped onto integers that keep their order (sign-magnitude bits to
two's complement), so the distance is a difference of integers; +0 and -0 are 0 apart, and
1.0 and the next float32 above it are 1 apart.
"""

from __future__ import annotations

import numpy as np

_INTS = {2: np.int16, 4: np.int32, 8: np.int64}


def ordered(values: np.ndarray) -> np.ndarray:
    """Each float as an int64 whose order is the floats' order (NaN excluded by the caller)."""
    if values.dtype.kind != "f" or values.dtype.itemsize not in _INTS:
        raise TypeError(f"ULP distances need float16/32/64 values, not {values.dtype}")
    bits = np.ascontiguousarray(values).view(_INTS[values.dtype.itemsize]).astype(np.int64)
    lowest = -(1 << (8 * values.dtype.itemsize - 1))
    # A negative float's bits, read as a signed integer, are lowest + magnitude; -magnitude
    # puts it below zero in the same order as the floats.
    return np.where(bits < 0, lowest - bits, bits)


def ulp_distance(a: np.ndarray, b: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """|a - b| in ULPs of ``dtype`` (default: a's float type; float64 for anything else).

    Both arrays are cast to ``dtype`` first. Elements where either is NaN get distance 0:
    NaN/Inf are counted separately by the agreement check. float64 distances beyond 2**63
    saturate.
    """
    if dtype is None:
        dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    x = np.asarray(a, dtype=dtype)
    y = np.asarray(b, dtype=dtype)
    nan = np.isnan(x) | np.isnan(y)
    x = np.where(nan, 0, x).astype(dtype)
    y = np.where(nan, 0, y).astype(dtype)
    with np.errstate(over="ignore"):
        ox, oy = ordered(x), ordered(y)
        # Differences of float64 keys can exceed int64: compute in uint64 magnitude.
        hi, lo = np.maximum(ox, oy), np.minimum(ox, oy)
        dist = hi.astype(np.uint64) - lo.astype(np.uint64)
    return np.where(nan, np.uint64(0), dist)
