"""Agreement of a backend's outputs with the reference backend's, per output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """An element agrees when |got - ref| <= atol + rtol * |ref|."""

    rtol: float
    atol: float


# Defaults per compute precision; the validation issue lets users override them.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(rtol=1e-4, atol=1e-5),
    "fp16": Tolerance(rtol=1e-2, atol=1e-3),
    "bf16": Tolerance(rtol=2e-2, atol=1e-2),
}

VERDICTS = ("identical", "within tolerance", "different")


def compare_output(ref: np.ndarray, got: np.ndarray, tol: Tolerance) -> dict[str, Any]:
    """Differences of one output: max abs/rel, NaN/Inf the reference does not have, verdict."""
    if ref.shape != got.shape:
        return {
            "verdict": "different",
            "shape": list(got.shape),
            "ref_shape": list(ref.shape),
            "reason": f"shape {list(got.shape)} != reference {list(ref.shape)}",
        }
    r = ref.astype(np.float64, copy=False)
    g = got.astype(np.float64, copy=False)
    ref_finite = np.isfinite(r)
    new_nan = int(np.count_nonzero(np.isnan(g) & ~np.isnan(r)))
    new_inf = int(np.count_nonzero(np.isinf(g) & ~np.isinf(r)))
    both = ref_finite & np.isfinite(g)
    diff = np.abs(g - r)
    diff = np.where(both, diff, 0.0)
    rel = diff / np.maximum(np.abs(r), tol.atol)
    ok = both & (diff <= tol.atol + tol.rtol * np.abs(r))
    # Non-finite elements agree only where both are the same non-finite value.
    same_nonfinite = ~ref_finite & ((np.isnan(r) & np.isnan(g)) | (r == g))
    agree = ok | same_nonfinite
    identical = bool(np.array_equal(ref, got, equal_nan=True))
    if identical:
        verdict = "identical"
    elif bool(agree.all()):
        verdict = "within tolerance"
    else:
        verdict = "different"
    # The worst element: the largest difference among those that disagree.
    worst = int(np.argmax(np.where(agree, 0.0, 1.0 + diff))) if diff.size else 0
    result: dict[str, Any] = {
        "verdict": verdict,
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float(rel.max()) if rel.size else 0.0,
        "nan": new_nan,
        "inf": new_inf,
        "ref_nan": int(np.count_nonzero(np.isnan(r))),
        "fraction_within": float(agree.mean()) if agree.size else 1.0,
    }
    if verdict == "different":
        result["worst_index"] = [int(i) for i in np.unravel_index(worst, ref.shape)]
    return result


def compare(
    reference: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray], precision: str = "fp32"
) -> dict[str, Any]:
    """Every output compared; the overall verdict is the worst of the outputs'."""
    tol = TOLERANCES[precision]
    outputs: dict[str, Any] = {}
    for name, ref in reference.items():
        if name not in got:
            outputs[name] = {"verdict": "different", "reason": "output missing"}
            continue
        outputs[name] = compare_output(ref, got[name], tol)
    worst = max((VERDICTS.index(o["verdict"]) for o in outputs.values()), default=0)
    return {
        "verdict": VERDICTS[worst],
        "precision": precision,
        "rtol": tol.rtol,
        "atol": tol.atol,
        "outputs": outputs,
    }
