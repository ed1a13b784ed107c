"""The cost of a model from its ONNX graph: parameters, weight bytes, multiply-accumulates.

MACs are counted from the graph at a chosen batch size and dynamic-axis sizes, with tensor
shapes from ONNX shape inference (onnxruntime's symbolic inference where ONNX's own leaves
gaps), for the operations that do the arithmetic: Gemm and MatMul (attention-like MatMuls
between activations included), Conv, ConvTranspose, and the RNN, GRU and LSTM cells.
Element-wise work (activations, normalisation, additions) is left out, as is usual.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError, first_line

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
    import numpy as np
    from onnx import numpy_helper

    from hepinfer.zoo.onnx_file import load_onnx, spec_from_onnx

    path = Path(path)
    model = load_onnx(path)
    spec = spec if spec is not None else spec_from_onnx(path)
    if batch < 1:
        raise ConfigurationError(f"batch size {batch} is not allowed: use 1 or more")
    given = dict(dims or {})
    resolved = spec.resolve_dims(given)
    run_batch = batch if spec.has_batch_axis else spec.default_batch()

    params = 0
    weight_bytes = 0
    for init in model.graph.initializer:
        n = math.prod(init.dims)
        params += n
        weight_bytes += n * np.dtype(numpy_helper.helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize

    shapes = _infer_shapes(model, spec, run_batch, resolved)
    by_op: dict[str, int] = {}
    uncounted: list[str] = []
    for node in model.graph.node:
        if node.op_type not in _COUNTED:
            continue
        macs = _node_macs(node, shapes)
        if macs is None:
            uncounted.append(node.name or node.op_type)
            continue
        by_op[node.op_type] = by_op.get(node.op_type, 0) + macs
    total = sum(by_op.values())
    return {
        "params": params,
        "weight_bytes": weight_bytes,
        "macs": total,
        "macs_per_event": total / run_batch,
        "macs_by_op": by_op,
        "batch": run_batch,
        "dims": resolved,
        "uncounted": uncounted,
    }


def _infer_shapes(model: Any, spec: Any, batch: int, dims: Mapping[str, int]) -> dict[str, list[int]]:
    """Concrete shapes of every tensor that inference can size, inputs fixed to the sizes."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    by_name = {t.name: t for t in spec.inputs}
    for vi in m.graph.input:
        t = by_name.get(vi.name)
        if t is None:
            continue
        for d, size in zip(vi.type.tensor_type.shape.dim, t.concrete(batch, dims), strict=True):
            d.Clear()
            d.dim_value = size
    for vo in m.graph.output:  # stale symbolic output shapes would clash with the concrete ones
        for d in vo.type.tensor_type.shape.dim:
            d.Clear()
    shapes: dict[str, list[int]] = {}
    for init in m.graph.initializer:
        shapes[init.name] = list(init.dims)
    try:
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
        _collect(inferred, shapes)
    except Exception:
        inferred = m
    if _missing(m, shapes):
        try:
            from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

            sym = SymbolicShapeInference.infer_shapes(m, auto_merge=True, guess_output_rank=True)
            _collect(sym, shapes)
        except Exception:  # the first pass's shapes stand; gaps show in "uncounted"
            pass
    return shapes


def _collect(model: Any, shapes: dict[str, list[int]]) -> None:
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        if all(d >= 0 for d in dims):
            shapes.setdefault(vi.name, dims)


def _missing(model: Any, shapes: Mapping[str, list[int]]) -> bool:
    return any(
        n.op_type in _COUNTED and any(i and i not in shapes for i in list(n.input)[:2])
        for n in model.graph.node
    )


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _node_macs(node: Any, shapes: Mapping[str, list[int]]) -> int | None:
    """MACs of one node, or None when a shape it needs is unknown."""
    ins = [shapes.get(i) if i else None for i in node.input]
    outs = [shapes.get(o) if o else None for o in node.output]
    op = node.op_type
    if op == "Gemm":
        a, b = ins[0], ins[1]
        if a is None or b is None:
            return None
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
        n = b[0] if _attr(node, "transB", 0) else b[1]
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
        steps, rows = (x[1], x[0]) if _attr(node, "layout", 0) else (x[0], x[1])
        dirs, gates_h, inputs = w
        hidden = r[2]
        return steps * rows * dirs * gates_h * (inputs + hidden)
    return None


def _broadcast(a: list[int], b: list[int]) -> list[int]:
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + a
    b = [1] * (n - len(b)) + b
    return [max(x, y) for x, y in zip(a, b, strict=True)]


def cost_for_onnx(path: Path, batch: int, dims: Mapping[str, int], spec: Any) -> dict[str, Any]:
    """The cost of a configuration's model file at its batch and dims, for the bench record.

    Computed by the parent before the measured worker starts. Never raises: the cost is an
    annotation, so a failure is recorded as ``{"error": ...}``.
    """
    try:
        return model_cost(path, batch, dims, spec=spec)
    except Exception as err:
        first = first_line(err)
        return {"error": f"{type(err).__name__}: {first}"}
