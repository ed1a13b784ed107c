"""Agreement of a backend's outputs with the reference backend's, per output.

Per output: max absolute and relative difference, ULP distance (median and max, in the
reference's float type), the fraction of elements within tolerance, NaN/Inf the reference does
not have, the fraction of events whose argmax changes (classifier outputs), and a verdict:
``identical`` (bitwise, NaN equal to NaN), ``within tolerance`` or ``different``. The worst
element (the one furthest outside, or least inside, its tolerance) is located by output,
event (the batch index) and index within the event.

``compare`` returns a compact summary, small enough for every bench record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.measure.ulp import ulp_distance


@dataclass(frozen=True)
class Tolerance:
    """An element agrees when |got - ref| <= atol + rtol * |ref|."""

    rtol: float
    atol: float

    def to_dict(self) -> dict[str, float]:
        """For the record."""
        return {"rtol": self.rtol, "atol": self.atol}


# Defaults per compute precision. fp32: a few ULP of accumulated rounding in O(1) values, with
# room for re-associated sums of a few hundred terms; fp16/bf16: a few units of their 11/8-bit
# mantissas.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(rtol=1e-4, atol=1e-5),
    "fp16": Tolerance(rtol=1e-2, atol=1e-3),
    "bf16": Tolerance(rtol=2e-2, atol=1e-2),
}

VERDICTS = ("identical", "within tolerance", "different")


def tolerance(precision: str, rtol: float | None = None, atol: float | None = None) -> Tolerance:
    """The default tolerance of a precision, with the user's rtol/atol where given."""
    if precision not in TOLERANCES:
        raise ConfigurationError(f"unknown precision '{precision}': choose one of {', '.join(TOLERANCES)}")
    base = TOLERANCES[precision]
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not value >= 0:
            raise ConfigurationError(f"--{name} {value}: a tolerance must be 0 or more")
    return Tolerance(
        rtol=base.rtol if rtol is None else float(rtol),
        atol=base.atol if atol is None else float(atol),
    )


def _excess(diff: np.ndarray, r: np.ndarray, tol: Tolerance) -> np.ndarray:
    """diff / allowed: <= 1 within tolerance (0/0 counts as 0)."""
    allowed = tol.atol + tol.rtol * np.abs(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(diff == 0, 0.0, diff / allowed)
    return np.nan_to_num(out, nan=0.0, posinf=np.inf)


def compare_output(
    ref: np.ndarray,
    got: np.ndarray,
    tol: Tolerance,
    batch_axis: int | None = 0,
    argmax: bool = False,
) -> dict[str, Any]:
    """Differences of one output with the reference (see the module docstring).

    ``batch_axis`` is the axis whose index is reported as the event (None: no event axis);
    ``argmax`` adds the fraction of events whose argmax over the last axis changes.
    """
    if ref.shape != got.shape:
        return {
            "verdict": "different",
            "shape": list(got.shape),
            "ref_shape": list(ref.shape),
            "reason": f"shape {list(got.shape)} != reference {list(ref.shape)}",
            "excess": float("inf"),
        }
    r = ref.astype(np.float64, copy=False)
    g = got.astype(np.float64, copy=False)
    ref_finite = np.isfinite(r)
    got_finite = np.isfinite(g)
    new_nan = np.isnan(g) & ~np.isnan(r)
    new_inf = np.isinf(g) & ~np.isinf(r)
    both = ref_finite & got_finite
    with np.errstate(invalid="ignore"):
        diff = np.where(both, np.abs(g - r), 0.0)
    # Relative to |ref|, floored at atol so that values near zero do not give huge ratios.
    floor = tol.atol or np.finfo(np.float64).tiny
    rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(r), floor))
    # Non-finite elements agree only where both are the same non-finite value.
    same_nonfinite = ~ref_finite & ((np.isnan(r) & np.isnan(g)) | (r == g))
    mismatch_nonfinite = ~both & ~same_nonfinite
    excess = np.where(mismatch_nonfinite, np.inf, _excess(diff, r, tol))
    agree = excess <= 1.0
    identical = bool(np.array_equal(ref, got, equal_nan=ref.dtype.kind in "fc"))
    if identical:
        verdict = "identical"
    elif bool(agree.all()):
        verdict = "within tolerance"
    else:
        verdict = "different"
    result: dict[str, Any] = {
        "verdict": verdict,
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "max_rel": float(rel.max()) if rel.size else 0.0,
        "fraction_within": float(agree.mean()) if agree.size else 1.0,
        "nan": int(np.count_nonzero(new_nan)),
        "inf": int(np.count_nonzero(new_inf)),
    }
    if ref.dtype.kind == "f" and ref.dtype.itemsize in (2, 4, 8):
        ulps = ulp_distance(ref, got)[both] if both.any() else np.zeros(0, np.uint64)
        result["ulp_median"] = float(np.median(ulps)) if ulps.size else 0.0
        result["ulp_max"] = int(ulps.max()) if ulps.size else 0
    if argmax and ref.ndim >= 2 and ref.shape[-1] >= 2 and ref.size:
        flips = np.argmax(np.nan_to_num(r, nan=-np.inf), axis=-1) != np.argmax(
            np.nan_to_num(g, nan=-np.inf), axis=-1
        )
        flips |= np.isnan(g).any(axis=-1) & ~np.isnan(r).any(axis=-1)
        result["argmax_flips"] = float(flips.mean())
    if not identical and excess.size:
        result["worst"] = _locate(excess, ref, got, batch_axis)
    result["excess"] = float(excess.max()) if excess.size else 0.0
    return result


def _locate(excess: np.ndarray, ref: np.ndarray, got: np.ndarray, batch_axis: int | None) -> dict[str, Any]:
    """The element furthest outside (or least inside) its tolerance: event, index, values."""
    # Ties (several NaN): the first in memory order, i.e. the lowest event.
    flat = int(np.argmax(excess))
    where = [int(i) for i in np.unravel_index(flat, ref.shape)]
    if batch_axis is not None and 0 <= batch_axis < len(where):
        event: int | None = where.pop(batch_axis)
    else:
        event = None
    return {
        "event": event,
        "index": where,
        "ref": float(ref.reshape(-1)[flat]),
        "got": float(got.reshape(-1)[flat]),
    }


def compare(
    reference: Mapping[str, np.ndarray],
    got: Mapping[str, np.ndarray],
    precision: str = "fp32",
    tol: Tolerance | None = None,
    argmax: Collection[str] = (),
    batch_axes: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """Every output compared; the overall verdict is the worst of the outputs'.

    ``tol`` overrides the precision's default tolerance; ``argmax`` names the classifier
    outputs whose argmax flips are counted; ``batch_axes`` gives each output's event axis
    (default 0). The summary's ``worst`` names the output, event and index of the element
    furthest from agreement.
    """
    tol = tol or tolerance(precision)
    axes = batch_axes or {}
    outputs: dict[str, Any] = {}
    for name, ref in reference.items():
        if name not in got:
            outputs[name] = {
                "verdict": "different",
                "reason": "output missing",
                "excess": float("inf"),
            }
            continue
        outputs[name] = compare_output(
            ref, got[name], tol, batch_axis=axes.get(name, 0), argmax=name in argmax
        )
    for name in got:
        if name not in reference:
            outputs[name] = {
                "verdict": "different",
                "reason": "output not in the reference",
                "excess": float("inf"),
            }
    worst_rank = max((VERDICTS.index(o["verdict"]) for o in outputs.values()), default=0)
    summary: dict[str, Any] = {
        "verdict": VERDICTS[worst_rank],
        "precision": precision,
        "rtol": tol.rtol,
        "atol": tol.atol,
    }
    if worst_rank > 0:
        name = max(outputs, key=lambda n: (VERDICTS.index(outputs[n]["verdict"]), outputs[n]["excess"]))
        worst = outputs[name]
        summary["worst"] = {"output": name, **worst.get("worst", {"reason": worst.get("reason")})}
    for o in outputs.values():
        o.pop("excess", None)  # a ranking aid; "fraction_within" and "worst" say it for users
    summary["outputs"] = outputs
    return summary


def describe(summary: Mapping[str, Any]) -> str:
    """One line for a table or log: verdict, and where and how large the worst difference is."""
    verdict = str(summary.get("verdict", "unknown"))
    worst = summary.get("worst")
    if not worst or verdict in ("identical", "reference", "unknown"):
        return verdict
    out = summary.get("outputs", {}).get(worst.get("output"), {})
    if worst.get("reason"):
        return f"{verdict}: {worst['output']} {worst['reason']}"
    where = f"{worst['output']}"
    if worst.get("event") is not None:
        where += f" event {worst['event']}"
    if worst.get("index"):
        where += f" [{','.join(map(str, worst['index']))}]"
    parts = [f"{verdict}: worst {where} ref {worst['ref']:.6g} got {worst['got']:.6g}"]
    if out.get("nan") or out.get("inf"):
        parts.append(f"{out.get('nan', 0)} new NaN, {out.get('inf', 0)} new Inf")
    if "ulp_max" in out:
        parts.append(f"max {out['ulp_max']} ULP")
    if out.get("argmax_flips"):
        parts.append(f"argmax flips {out['argmax_flips']:.2%}")
    return "; ".join(parts)
