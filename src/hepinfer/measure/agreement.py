"""Agreement of a backend's outputs with the reference backend's, per output.

Per output: max absolute and relative difference, ULP distance (median and max) with its unit
(``ulp_unit``: the precision the backend computes in when it is bfloat16/float16, else the
reference's float type), the fraction of elements within tolerance, NaN/Inf the reference does
not have, the fraction of events whose argmax changes (classifier outputs), and a verdict:

- ``identical``: bitwise, i.e. same dtype, same shape and same bytes (NaN payloads included);
- ``equal values, not bitwise``: every value equal (NaN where the reference has NaN) but the
  bits are not: signed zeros, NaN payloads, or another dtype; ``not_bitwise`` says which;
- ``within tolerance`` or ``different``.

The worst element (the one furthest outside, or least inside, its tolerance; for equal values
not bitwise, the first whose bits differ) is located by output, event (the batch index) and
index within the event.

``compare`` returns a compact summary, small enough for every bench record.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.measure.bitwise import bitwise_equal, equal_not_bitwise
from hepinfer.measure.ulp import UNITS, UlpUnit, ulp_distance


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

IDENTICAL = "identical"
EQUAL_NOT_BITWISE = "equal values, not bitwise"
VERDICTS = (IDENTICAL, EQUAL_NOT_BITWISE, "within tolerance", "different")

# A precision as backends and users spell it (options, settings, --precision) -> its ULP unit.
# bfloat16 is tested before float16: "bf16" contains "f16".
_UNIT_SPELLINGS: tuple[tuple[UlpUnit, tuple[str, ...]], ...] = (
    ("bfloat16", ("bfloat16", "bf16")),
    ("float16", ("float16", "fp16", "f16", "half")),
    ("float64", ("float64", "fp64", "f64", "double")),
    ("float32", ("float32", "fp32", "f32")),
)


def precision_unit(value: object) -> UlpUnit | None:
    """The ULP unit a precision names ("bf16", "<Type: 'bfloat16'>", "fp16", "f32"...), or None."""
    if not isinstance(value, str):
        return None
    text = value.lower()
    for unit, spellings in _UNIT_SPELLINGS:
        if any(s in text for s in spellings):
            return unit
    return None


def ulp_unit_for(
    options: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    precision: str | None = None,
) -> UlpUnit | None:
    """The unit a backend's ULP distances are counted in: the precision it computes in.

    First what the backend reports it compiled for (``settings``: OpenVINO's
    ``inference_precision_hint``, TensorRT's ``precision``), then what it was asked for
    (``options["precision"]``), then a reduced ``precision`` the comparison declares (the
    validate request's bf16/fp16). None: full precision, so the reference's float type.
    """
    settings = settings or {}
    for name in ("inference_precision_hint", "precision"):
        unit = precision_unit(settings.get(name))
        if unit is not None:
            return unit
    unit = precision_unit((settings.get("requested") or {}).get("INFERENCE_PRECISION_HINT"))
    if unit is None:
        unit = precision_unit((options or {}).get("precision"))
    if unit is None and precision in ("bf16", "fp16"):
        unit = precision_unit(precision)
    return unit


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
    ulp_unit: UlpUnit | None = None,
) -> dict[str, Any]:
    """Differences of one output with the reference (see the module docstring).

    ``batch_axis`` is the axis whose index is reported as the event (None: no event axis);
    ``argmax`` adds the fraction of events whose argmax over the last axis changes;
    ``ulp_unit`` is the format ULPs are counted in (default: the reference's float type).
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
    d = _Differences.of(r, g, tol)
    identical = bitwise_equal(ref, got)
    not_bitwise = None if identical else equal_not_bitwise(ref, got)
    if identical:
        verdict = IDENTICAL
    elif not_bitwise is not None:
        verdict = EQUAL_NOT_BITWISE
    elif bool(d.agree.all()):
        verdict = "within tolerance"
    else:
        verdict = "different"
    result: dict[str, Any] = {"verdict": verdict}
    if not_bitwise is not None:
        result["not_bitwise"] = not_bitwise
    if got.dtype != ref.dtype:
        result["dtype"] = str(got.dtype)
        result["ref_dtype"] = str(ref.dtype)
    result |= d.figures()
    if ref.dtype.kind == "f" and ref.dtype.itemsize in (2, 4, 8):
        result |= _ulp_figures(ref, got, r, d.both, tol, ulp_unit or str(ref.dtype))
    if argmax and ref.ndim >= 2 and ref.shape[-1] >= 2 and ref.size:
        result["argmax_flips"] = _argmax_flip_fraction(r, g)
    if not_bitwise is not None:
        first = not_bitwise.pop("first", None)
        if first is not None:
            result["worst"] = _at(first, ref, got, batch_axis)
    elif not identical and d.excess.size:
        result["worst"] = _locate(d.excess, ref, got, batch_axis)
    result["excess"] = float(d.excess.max()) if d.excess.size else 0.0
    return result


@dataclass(frozen=True)
class _Differences:
    """Element by element, an output (as float64) against the reference's."""

    diff: np.ndarray  # |got - ref| where both are finite, else 0
    rel: np.ndarray  # diff relative to |ref|, floored at atol
    excess: np.ndarray  # diff / allowed (inf where a non-finite value does not match)
    agree: np.ndarray  # excess <= 1
    both: np.ndarray  # both finite
    new_nan: np.ndarray  # NaN where the reference has none
    new_inf: np.ndarray  # Inf where the reference has none

    @classmethod
    def of(cls, r: np.ndarray, g: np.ndarray, tol: Tolerance) -> _Differences:
        """The differences of ``g`` from ``r``, both float64 of the same shape."""
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
        return cls(diff, rel, excess, excess <= 1.0, both, new_nan, new_inf)

    def figures(self) -> dict[str, Any]:
        """The summary's largest differences, the fraction within tolerance, new NaN/Inf."""
        return {
            "max_abs": float(self.diff.max()) if self.diff.size else 0.0,
            "max_rel": float(self.rel.max()) if self.rel.size else 0.0,
            "fraction_within": float(self.agree.mean()) if self.agree.size else 1.0,
            "nan": int(np.count_nonzero(self.new_nan)),
            "inf": int(np.count_nonzero(self.new_inf)),
        }


def _ulp_figures(
    ref: np.ndarray, got: np.ndarray, r: np.ndarray, both: np.ndarray, tol: Tolerance, unit: str
) -> dict[str, Any]:
    """ULP distances (in ``unit``) over the elements finite in both: median, max, max above atol
    (``r``: the reference as float64)."""
    ulps = ulp_distance(ref, got, unit)[both] if both.any() else np.zeros(0, np.uint64)
    # Near zero a float's steps are tiny, so the max ULP is set by values the tolerance
    # calls equal (172032 ULP at |diff| 1e-7): the max over elements above atol is the
    # figure that says how many steps apart the values that matter are.
    big = (np.abs(r) > tol.atol)[both] if both.any() else np.zeros(0, bool)
    return {
        "ulp_median": float(np.median(ulps)) if ulps.size else 0.0,
        "ulp_max": int(ulps.max()) if ulps.size else 0,
        "ulp_max_above_atol": int(ulps[big].max()) if big.any() else 0,
        "ulp_unit": unit,
    }


def _argmax_flip_fraction(r: np.ndarray, g: np.ndarray) -> float:
    """The fraction of events whose argmax over the last axis changes (a new NaN flips it)."""
    flips = np.argmax(np.nan_to_num(r, nan=-np.inf), axis=-1) != np.argmax(
        np.nan_to_num(g, nan=-np.inf), axis=-1
    )
    flips |= np.isnan(g).any(axis=-1) & ~np.isnan(r).any(axis=-1)
    return float(flips.mean())


def _locate(excess: np.ndarray, ref: np.ndarray, got: np.ndarray, batch_axis: int | None) -> dict[str, Any]:
    """The element furthest outside (or least inside) its tolerance: event, index, values."""
    # Ties (several NaN): the first in memory order, i.e. the lowest event.
    return _at(int(np.argmax(excess)), ref, got, batch_axis)


def _at(flat: int, ref: np.ndarray, got: np.ndarray, batch_axis: int | None) -> dict[str, Any]:
    """The element at a flat index: event, index within the event, values."""
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
    ulp_unit: UlpUnit | None = None,
) -> dict[str, Any]:
    """Every output compared; the overall verdict is the worst of the outputs'.

    ``tol`` overrides the precision's default tolerance; ``argmax`` names the classifier
    outputs whose argmax flips are counted; ``batch_axes`` gives each output's event axis
    (default 0); ``ulp_unit`` is the format ULPs are counted in (``ulp_unit_for`` finds a
    backend's; default: each reference output's float type). The summary's ``worst`` names
    the output, event and index of the element furthest from agreement.
    """
    if ulp_unit is not None and ulp_unit not in UNITS:
        raise ConfigurationError(f"ULP unit '{ulp_unit}': choose one of {', '.join(UNITS)}")
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
            ref, got[name], tol, batch_axis=axes.get(name, 0), argmax=name in argmax, ulp_unit=ulp_unit
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
    units = {o["ulp_unit"] for o in outputs.values() if "ulp_unit" in o}
    if len(units) == 1:
        summary["ulp_unit"] = units.pop()
    not_bitwise = {n: o["not_bitwise"]["reason"] for n, o in outputs.items() if "not_bitwise" in o}
    if not_bitwise:
        summary["not_bitwise"] = not_bitwise
    if worst_rank > 0:
        name = max(outputs, key=lambda n: (VERDICTS.index(outputs[n]["verdict"]), outputs[n]["excess"]))
        worst = outputs[name]
        why = worst.get("reason") or (worst.get("not_bitwise") or {}).get("reason")
        summary["worst"] = {"output": name, **worst.get("worst", {"reason": why})}
    for o in outputs.values():
        o.pop("excess", None)  # a ranking aid; "fraction_within" and "worst" say it for users
    summary["outputs"] = outputs
    return summary


def describe(summary: Mapping[str, Any]) -> str:
    """One line for a table or log: verdict, and where and how large the worst difference is."""
    verdict = str(summary.get("verdict", "unknown"))
    worst = summary.get("worst")
    if verdict == EQUAL_NOT_BITWISE:
        why = "; ".join(f"{n} {r}" for n, r in (summary.get("not_bitwise") or {}).items())
        return f"{verdict}: {why}" if why else verdict
    if not worst or verdict in (IDENTICAL, "reference", "unknown"):
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
        text = f"max {out['ulp_max']} ULP {out.get('ulp_unit', '')}".rstrip()
        if "ulp_max_above_atol" in out:
            text += f" ({out['ulp_max_above_atol']} above atol)"
        parts.append(text)
    if out.get("argmax_flips"):
        parts.append(f"argmax flips {out['argmax_flips']:.2%}")
    return "; ".join(parts)
