"""How an agreement verdict reads in a table: the marker, the cell, the ULP text and its unit."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from hepinfer.measure.agreement import EQUAL_NOT_BITWISE, ulp_unit_for

MARKS = {
    "identical": "identical",
    EQUAL_NOT_BITWISE: "equal, not bitwise",
    "within tolerance": "within tol",
    "different": "DIFFERENT",
    "reference": "reference",
    "unknown": "unknown",
}

FAST_BUT_DIFFERENT_CAPTION = (
    "!: [bold red]✗![/bold red] faster than the reference but its answers differ beyond "
    "tolerance; ✗ differs; ≈ within tolerance; (=) equal values, not bitwise; "
    "= bitwise identical (same dtype, shape and bytes) or the reference"
)


def flag(agreement: dict[str, Any], speedup: float | None) -> str:
    """The at-a-glance marker: fast-but-different stands out in red."""
    verdict = agreement.get("verdict")
    if verdict == "different":
        return "[bold red]✗![/bold red]" if speedup is not None and speedup > 1.0 else "[yellow]✗[/yellow]"
    if verdict == "within tolerance":
        return "≈"
    if verdict == EQUAL_NOT_BITWISE:
        return "(=)"
    if verdict in ("identical", "reference"):
        return "="
    return ""


def ulp_text(agreement: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    """The largest ULP distance with its unit ("3 ULP bfloat16"); "" when none was counted.

    Records from before the unit was stored counted in the reference's float type. Where the
    record's backend computes in another precision than the unit (a bench record of OpenVINO
    at bf16 counted in float32 ULPs), the text says so rather than pass one for the other.
    """
    outputs = [o for o in (agreement.get("outputs") or {}).values() if "ulp_max" in o]
    if not outputs:
        return ""
    worst = max(outputs, key=lambda o: o["ulp_max"])
    unit = worst.get("ulp_unit") or agreement.get("ulp_unit")
    text = f"{worst['ulp_max']} ULP {unit or '(reference dtype)'}"
    above = [o["ulp_max_above_atol"] for o in outputs if "ulp_max_above_atol" in o]
    if above:  # the elements that matter: the max is set by values near zero
        text += f" ({max(above)} above atol)"
    if record is not None:
        ran = ulp_unit_for(
            (record.get("key") or {}).get("options"), (record.get("backend") or {}).get("settings")
        )
        if ran is not None and ran != unit:
            text += f", backend ran {ran}"
    return text


def not_bitwise_text(agreement: dict[str, Any]) -> str:
    """Why equal values are not bitwise identical: "y 3 signed zeros differ"."""
    reasons = agreement.get("not_bitwise") or {}
    return "; ".join(f"{n} {r}" for n, r in reasons.items() if n != "inputs")


def agreement_cell(agreement: dict[str, Any], record: dict[str, Any] | None = None) -> str:
    """Verdict with the size and place of the worst difference when it matters."""
    verdict = agreement.get("verdict", "unknown")
    text = MARKS.get(verdict, "?")
    outputs = agreement.get("outputs", {}).values()
    ulp = max((o.get("ulp_max", 0) for o in outputs), default=0)
    nonfinite = sum(o.get("nan", 0) + o.get("inf", 0) for o in outputs)
    if verdict == EQUAL_NOT_BITWISE:
        why = not_bitwise_text(agreement)
        return f"{text} ({escape(why)})" if why else text
    if verdict == "within tolerance" and ulp:
        return f"{text} ({escape(ulp_text(agreement, record))})"
    if verdict != "different":
        return text
    parts = [f"max abs {_worst_abs(agreement):.2g}"]
    if nonfinite:
        parts.append(f"{nonfinite} NaN/Inf")
    worst = agreement.get("worst") or {}
    if worst.get("event") is not None:
        parts.append(f"{worst['output']} event {worst['event']}")
    return f"[red]DIFFERENT[/red] ({', '.join(parts)})"


def _worst_abs(agreement: dict[str, Any]) -> float:
    return max((o.get("max_abs", float("inf")) for o in agreement.get("outputs", {}).values()), default=0.0)
