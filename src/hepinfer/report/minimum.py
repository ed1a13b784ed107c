"""Memory against the graph-level minimum: the ratio, its text, the legend, the memory cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BELOW_MINIMUM_MARK = "†"
MINIMUM_LEGEND = (
    "x min: measured / graph-level minimum, a bound on the ONNX graph (weights + peak live "
    "activations by the graph's liveness, no operator in place), not on a runtime's kernels"
)
BELOW_MINIMUM_NOTE = (
    f"{BELOW_MINIMUM_MARK}: below the graph-level minimum: fused or in-place kernels hold fewer "
    "live activations than the graph's liveness bound"
)


def minimum_ratio(memory: dict[str, Any]) -> float | None:
    """Measured / graph-level minimum, as the worker recorded it (None when unknown)."""
    ratio = (memory.get("minimum") or {}).get("ratio")
    return float(ratio) if isinstance(ratio, int | float) else None


def ratio_text(ratio: float | None) -> str:
    """ "1.7x", or "0.928x†" below the minimum (see BELOW_MINIMUM_NOTE); "-" when unknown."""
    if ratio is None:
        return "-"
    return f"{ratio:.3g}x" + (BELOW_MINIMUM_MARK if ratio < 1.0 else "")


def minimum_legend(records: Sequence[dict[str, Any]]) -> list[str]:
    """What the minimum is (always), and what a ratio below 1 means (when a record has one)."""
    lines = [MINIMUM_LEGEND]
    if any((minimum_ratio(r.get("memory") or {}) or 1.0) < 1.0 for r in records):
        lines.append(BELOW_MINIMUM_NOTE)
    return lines


def memory_cell(memory: dict[str, Any]) -> str:
    """What the model and its inference took, and its ratio to the graph-level minimum."""
    measured = memory.get("measured_bytes")
    if not isinstance(measured, int | float):
        return "-"
    ratio = minimum_ratio(memory)
    return f"{measured / 2**20:.3g} MiB" + (f" ({ratio_text(ratio)})" if ratio is not None else "")
