"""Distance in units in the last place (ULP): how many representable floats lie between two.

Floats of one format are mapped onto integers that keep their order (sign-magnitude bits to
two's complement), so the distance is a difference of integers; +0 and -0 are 0 apart, and
1.0 and the next float32 above it are 1 apart.

The format is the *unit*: float16, bfloat16, float32 or float64. Both values are first
rounded (to nearest, ties to even) to the unit's format, then the steps between them are
counted, so a backend that computes in bfloat16 is measured in bfloat16 steps (1.0 and
1.0078125 are 1 bfloat16 ULP apart, 65536 float32 ULPs). numpy has no bfloat16; its rounding
is done here on float64 values (bfloat16 is float32's sign, exponent and top 7 mantissa bits).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

_INTS = {2: np.int16, 4: np.int32, 8: np.int64}

UlpUnit = Literal["float16", "bfloat16", "float32", "float64"]
UNITS: tuple[UlpUnit, ...] = ("float16", "bfloat16", "float32", "float64")


def ordered(values: np.ndarray) -> np.ndarray:
    """Each float as an int64 whose order is the floats' order (NaN excluded by the caller)."""
    if values.dtype.kind != "f" or values.dtype.itemsize not in _INTS:
        raise TypeError(f"ULP distances need float16/32/64 values, not {values.dtype}")
    bits = np.ascontiguousarray(values).view(_INTS[values.dtype.itemsize]).astype(np.int64)
    return _order_bits(bits, 8 * values.dtype.itemsize)


def _order_bits(bits: np.ndarray, width: int) -> np.ndarray:
    lowest = -(1 << (width - 1))
    # A negative float's bits, read as a signed integer, are lowest + magnitude; -magnitude
    # puts it below zero in the same order as the floats.
    return np.where(bits < 0, lowest - bits, bits)


def unit_of(dtype: np.dtype | str) -> UlpUnit:
    """The ULP unit a float dtype or unit name ("bfloat16" included) stands for."""
    if isinstance(dtype, str) and dtype in UNITS:
        return dtype
    d = np.dtype(dtype)
    if d.kind != "f" or d.itemsize not in _INTS:
        raise TypeError(f"ULP distances need float16/32/64 or bfloat16 units, not {d}")
    return str(d)  # type: ignore[return-value]


def round_bfloat16(values: np.ndarray) -> np.ndarray:
    """Values rounded to the nearest bfloat16 (ties to even), as float32; NaN stays NaN.

    Rounded from float64 in one step (no double rounding through float32): 8 significant
    bits down to bfloat16's smallest normal exponent, a fixed quantum below it (subnormals),
    and infinity beyond the largest finite bfloat16.
    """
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(x)  # x = m * 2**e, 0.5 <= |m| < 1
        # Quantum: 2**(exponent - 7) for normals (exponent = e - 1), 2**(-126 - 7) below.
        q = np.ldexp(1.0, np.maximum(e - 1, -126) - 7)
        rounded = np.where(np.isfinite(x), np.rint(x / q) * q, x)
        biggest = (2.0 - 2.0**-7) * 2.0**127
        rounded = np.where(np.abs(rounded) > biggest, np.copysign(np.inf, x), rounded)
    return rounded.astype(np.float32)


def _keys(values: np.ndarray, unit: UlpUnit) -> np.ndarray:
    """Ordered integer keys of the values rounded to the unit's format."""
    if unit == "bfloat16":
        bits = round_bfloat16(values).view(np.uint32) >> np.uint32(16)
        return _order_bits(bits.astype(np.uint16).view(np.int16).astype(np.int64), 16)
    return ordered(np.asarray(values).astype(unit))


def ulp_distance(a: np.ndarray, b: np.ndarray, dtype: np.dtype | str | None = None) -> np.ndarray:
    """|a - b| in ULPs of ``dtype`` (default: a's float type; float64 for anything else).

    ``dtype`` is a numpy float dtype or a unit name ("bfloat16" included). Both arrays are
    rounded to it first. Elements where either is NaN get distance 0: NaN/Inf are counted
    separately by the agreement check. float64 distances beyond 2**63 saturate.
    """
    if dtype is not None:
        unit = unit_of(dtype)
    else:
        unit = unit_of(a.dtype) if a.dtype.kind == "f" and a.dtype.itemsize in _INTS else "float64"
    x = np.asarray(a)
    y = np.asarray(b)
    nan = np.isnan(x.astype(np.float64)) | np.isnan(y.astype(np.float64))
    x = np.where(nan, 0, x)
    y = np.where(nan, 0, y)
    with np.errstate(over="ignore"):
        ox, oy = _keys(x, unit), _keys(y, unit)
        # Differences of float64 keys can exceed int64: compute in uint64 magnitude.
        hi, lo = np.maximum(ox, oy), np.minimum(ox, oy)
        dist = hi.astype(np.uint64) - lo.astype(np.uint64)
    return np.where(nan, np.uint64(0), dist)
