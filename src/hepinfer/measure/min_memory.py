"""The theoretical minimum memory of a model, and how what was measured compares with it.

minimum = weight bytes + the peak, over the nodes in the graph's topological order, of the
bytes of the tensors alive at that node. It is computed from the ONNX graph by the parent
(``hepinfer.convert.graph_minimum``, which says how order and liveness are found, at the
shapes of ``hepinfer.convert.shapes``); this module holds the result and the ratios against
a measurement, and imports no framework.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class MinimumMemory:
    """The minimum of one model at one set of input shapes, in bytes."""

    weight_bytes: int
    peak_activation_bytes: int
    # Name and op of the node at which the live tensors peak ("" for a graph without nodes).
    peak_node: str = ""
    peak_op: str = ""
    input_bytes: int = 0
    output_bytes: int = 0
    nodes: int = 0
    subgraphs: int = 0
    unknown: tuple[str, ...] = field(default=())

    @property
    def total_bytes(self) -> int:
        """Weights plus the peak of live activations."""
        return self.weight_bytes + self.peak_activation_bytes

    def to_dict(self) -> dict[str, Any]:
        """For the record (unknown tensors: their count and the first ten names)."""
        d = asdict(self)
        d["total_bytes"] = self.total_bytes
        d["unknown"] = list(self.unknown[:10])
        d["unknown_count"] = len(self.unknown)
        return d


def with_ratios(minimum: Mapping[str, Any], memory: Mapping[str, Any]) -> dict[str, Any]:
    """The minimum against what was measured (``memory`` is ``MemoryProbe.summary()``).

    Three ratios (None where a part is unknown):

    - ``ratio``: measured (peak during inference - RSS after conversion) / minimum;
    - ``weights_ratio``: the load delta / weight bytes (session and framework set-up included);
    - ``activations_ratio``: (inputs delta + inference delta) / peak of live activations.

    The minimum is a graph-level bound (weights + peak of live tensors by liveness of the ONNX
    graph): fused and in-place kernels can hold less, so a ratio below 1 is possible.
    """
    result = dict(minimum)
    if "error" in result:
        return result
    deltas = memory.get("deltas", {})
    parts = (deltas.get("inputs"), deltas.get("inference"))
    activations = None if None in parts else sum(p for p in parts if p is not None)
    result["ratio"] = _ratio(memory.get("measured_bytes"), result["total_bytes"])
    result["weights_ratio"] = _ratio(deltas.get("model"), result["weight_bytes"])
    result["activations_ratio"] = _ratio(activations, result["peak_activation_bytes"])
    return result


def _ratio(measured: float | None, minimum: float) -> float | None:
    return measured / minimum if measured is not None and minimum > 0 else None
