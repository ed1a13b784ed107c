"""The cost of an ONNX model: parameters, weight bytes and multiply-accumulates.

MACs are counted for the operations that do the arithmetic: Gemm and MatMul (attention-like
MatMuls between activations included), Conv, ConvTranspose, and the RNN, GRU and LSTM cells,
at the shapes ``convert.shapes.infer`` gives every tensor. Element-wise work (activations,
normalisation, additions) is left out, as is usual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepinfer.convert.shapes import Shapes, attribute, infer, itemsize, load_model
from hepinfer.errors import ConfigurationError

# Per-step weight matrices of the recurrent cells: gates times (input + hidden) MACs.
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_COUNTED = ("Gemm", "MatMul", "Conv", "ConvTranspose", *_GATES)


def model_cost(
    path: Path | str, batch: int = 1, dims: Mapping[str, int] | None = None, spec: Any = None
) -> dict[str, Any]:
    """Parameters, weight bytes and MACs (total and per event) of an ONNX file.

    ``batch`` fills the batch axis (a file whose batch is fixed inside runs at its own);
    ``dims`` gives the sizes of the other dynamic axes (``n_pf``), defaulting to none.
    ``spec`` (a ModelSpec) says which axes are which when the file's own naming misleads
    (gnn_tau's flat form, whose first axis is nodes, not events); by default it is read
    from the file.
    Returns ``params`` (elements of all initializers), ``weight_bytes``, ``macs`` (at the
    batch), ``macs_per_event``, ``macs_by_op``, the ``batch`` and ``dims`` used, and
    ``uncounted``: arithmetic nodes whose shapes could not be inferred (so ``macs`` is a
    lower bound when it is not empty).
    """
    path = Path(path)
    model = load_model(path)
    spec = spec if spec is not None else _spec_of(path)
    run_batch, resolved = run_sizes(spec, batch, dims)
    return cost_at_shapes(model, infer(model, spec.shapes(run_batch, resolved)), run_batch, resolved)


def _spec_of(path: Path) -> Any:
    from hepinfer.zoo.onnx_file import spec_from_onnx

    return spec_from_onnx(path)


def run_sizes(spec: Any, batch: int, dims: Mapping[str, int] | None) -> tuple[int, dict[str, int]]:
    """The batch a configuration runs at and the sizes of its dynamic axes."""
    if batch < 1:
        raise ConfigurationError(f"batch size {batch} is not allowed: use 1 or more")
    resolved = spec.resolve_dims(dict(dims or {}))
    return (batch if spec.has_batch_axis else spec.default_batch()), resolved


def cost_at_shapes(model: Any, shapes: Shapes, batch: int, dims: Mapping[str, int]) -> dict[str, Any]:
    """The cost (``model_cost``'s fields) of ``model`` whose tensors have ``shapes``, run at
    ``batch`` and ``dims`` (recorded as given)."""
    params = 0
    weight_bytes = 0
    for init in model.graph.initializer:
        n = math.prod(init.dims)
        params += n
        weight_bytes += n * itemsize(init.data_type)
    by_op: dict[str, int] = {}
    uncounted: list[str] = []
    for node in model.graph.node:
        if node.op_type not in _COUNTED:
            continue
        macs = _node_macs(node, shapes.dims)
        if macs is None:
            uncounted.append(node.name or node.op_type)
            continue
        by_op[node.op_type] = by_op.get(node.op_type, 0) + macs
    total = sum(by_op.values())
    return {
        "params": params,
        "weight_bytes": weight_bytes,
        "macs": total,
        "macs_per_event": total / batch,
        "macs_by_op": by_op,
        "batch": batch,
        "dims": dict(dims),
        "uncounted": uncounted,
    }


def _node_macs(node: Any, shapes: Mapping[str, list[int]]) -> int | None:
    """MACs of one node, or None when a shape it needs is unknown."""
    ins = [shapes.get(i) if i else None for i in node.input]
    outs = [shapes.get(o) if o else None for o in node.output]
    op = node.op_type
    if op == "Gemm":
        a, b = ins[0], ins[1]
        if a is None or b is None:
            return None
        m, k = (a[1], a[0]) if attribute(node, "transA", 0) else (a[0], a[1])
        n = b[0] if attribute(node, "transB", 0) else b[1]
        return m * n * k
    if op == "MatMul":
        a, b = ins[0], ins[1]
        if a is None or b is None:
            return None
        a2 = [1, *a] if len(a) == 1 else a
        b2 = [*b, 1] if len(b) == 1 else b
        lead = _broadcast(a2[:-2], b2[:-2])
        return math.prod(lead) * a2[-2] * a2[-1] * b2[-1]
    if op == "Conv":
        w, y = ins[1], outs[0]
        if w is None or y is None:
            return None
        return y[0] * w[0] * math.prod(y[2:]) * math.prod(w[1:])
    if op == "ConvTranspose":
        x, w = ins[0], ins[1]
        if x is None or w is None:
            return None
        return x[0] * x[1] * math.prod(x[2:]) * math.prod(w[1:])
    if op in _GATES:
        x, w, r = ins[0], ins[1], ins[2]
        if x is None or w is None or r is None:
            return None
        steps, rows = (x[1], x[0]) if attribute(node, "layout", 0) else (x[0], x[1])
        dirs, gates_h, inputs = w
        hidden = r[2]
        return steps * rows * dirs * gates_h * (inputs + hidden)
    return None


def _broadcast(a: list[int], b: list[int]) -> list[int]:
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + a
    b = [1] * (n - len(b)) + b
    return [max(x, y) for x, y in zip(a, b, strict=True)]
