"""Bitwise identity of two arrays, and for equal values that are not bitwise identical, why.

What tells equal values apart: the dtype, signed zeros (+0 vs -0), NaN payloads. Agreement
(``hepinfer.measure.agreement``) calls outputs of this kind "equal values, not bitwise".
"""

from __future__ import annotations

from typing import Any

import numpy as np


def bitwise_equal(ref: np.ndarray, got: np.ndarray) -> bool:
    """Same dtype, same shape, same bytes: +0 and -0 differ, and so do two NaN payloads."""
    return (
        ref.dtype == got.dtype
        and ref.shape == got.shape
        and np.ascontiguousarray(ref).tobytes() == np.ascontiguousarray(got).tobytes()
    )


def _bits(values: np.ndarray) -> np.ndarray:
    """The elements' bytes as one unsigned integer (or row of bytes) each, for comparison."""
    a = np.ascontiguousarray(values)
    if a.dtype.itemsize in (1, 2, 4, 8):
        return a.view(f"u{a.dtype.itemsize}")
    return a.view(np.uint8).reshape(*a.shape, a.dtype.itemsize)


def equal_not_bitwise(ref: np.ndarray, got: np.ndarray) -> dict[str, Any] | None:
    """Why outputs of equal values are not bitwise identical, or None when some value differs.

    Equal: the same shape, ``got == ref`` everywhere, NaN where the reference has NaN. The
    answer counts what tells them apart: the dtype, signed zeros, NaN payloads (``first``: the
    flat index of the first element whose bits differ, for the same dtype).
    """
    if ref.shape != got.shape:
        return None
    floats = ref.dtype.kind in "fc" and got.dtype.kind in "fc"
    try:
        if not np.array_equal(ref, got, equal_nan=floats):
            return None
    except TypeError:  # values numpy cannot compare (strings vs numbers): not equal
        return None
    out: dict[str, Any] = {}
    reasons = []
    if ref.dtype != got.dtype:
        reasons.append(f"dtype {got.dtype} vs reference {ref.dtype}")
    if floats and ref.dtype.kind == "f" and got.dtype.kind == "f":
        zeros = (ref == 0) & (got == 0) & (np.signbit(ref) != np.signbit(got))
        out["signed_zeros"] = int(np.count_nonzero(zeros))
        if out["signed_zeros"]:
            reasons.append(_count(out["signed_zeros"], "signed zero"))
    if ref.dtype == got.dtype:
        differ = _bits(ref) != _bits(got)
        if differ.ndim > ref.ndim:
            differ = differ.any(axis=-1)
        if ref.dtype.kind in "fc":
            payloads = differ & np.isnan(ref)
            out["nan_payloads"] = int(np.count_nonzero(payloads))
            if out["nan_payloads"]:
                reasons.append(_count(out["nan_payloads"], "NaN payload"))
        if differ.any():
            out["first"] = int(np.argmax(differ.reshape(-1)))
        out["elements"] = int(np.count_nonzero(differ))
    out["reason"] = "; ".join(reasons) or "the bytes differ"
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what} differs" if n == 1 else f"{n} {what}s differ"
