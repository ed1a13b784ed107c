"""What the ONNX graph says about a model: tensor shapes, its cost, its memory minimum.

One module and one shape inference for both annotations the parent computes before a measured
worker starts (``runner.stage``), so that they read the same shapes of the same graph:

- Shapes (``infer``): the graph's inputs made concrete at the batch and dynamic-axis sizes,
  the shapes the file carries for intermediates and outputs dropped, then ONNX shape inference
  (data propagation on, not strict); where it leaves a tensor unsized (Shape -> Reshape
  chains, TopK, ...), ONNX Runtime's symbolic shape inference, when installed, fills the gaps
  (what ONNX inferred stands). Where gaps remain, the shape arithmetic (Shape, Range, Gather,
  Concat ... of shape values, constants once the inputs are concrete) is folded into
  initializers and both inferences run again on that copy (``fold_shape_values``): gnn_tau's
  ``torch.arange(batch)`` neighbour gather left three MatMuls unsized before.
- Cost (``model_cost``): parameters, weight bytes and multiply-accumulates of the operations
  that do the arithmetic: Gemm and MatMul (attention-like MatMuls between activations
  included), Conv, ConvTranspose, and the RNN, GRU and LSTM cells. Element-wise work
  (activations, normalisation, additions) is left out, as is usual.
- Minimum (``minimum_memory``): weight bytes + the peak, over the nodes in the graph's
  topological order, of the bytes of the tensors alive at that node.

  - Weights: initializers and the values of Constant nodes, kept for the model's lifetime.
  - Order: the file's node order, or a topological sort of it where the file is not sorted.
  - Liveness: a tensor is alive from the node that produces it (graph inputs: from the first
    node) to its last consumer (graph outputs: to the end; a tensor nobody reads dies where
    it is born). A node's inputs and outputs are alive together while it runs, so no operator
    is assumed to work in place, except the pure view operators (Reshape, Flatten, Squeeze,
    Unsqueeze, Identity), whose output shares its input's buffer as every runtime does.
  - Subgraphs (If, Loop, Scan): outer tensors they read count as read by the node that owns
    the subgraph; the subgraph's own intermediates are not counted (reported as
    ``subgraphs``).
  - Tensors whose shape inference cannot tell count 0 and are listed in ``unknown``: the
    minimum is then a lower bound.

``analyse`` loads the file once and infers its shapes once for both. The result types and the
comparison with what was measured (``MinimumMemory``, ``with_ratios``) are framework-free and
live in ``measure.min_memory``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError, ModelError, first_line
from hepinfer.measure.min_memory import MinimumMemory

VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
# Per-step weight matrices of the recurrent cells: gates times (input + hidden) MACs.
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_COUNTED = ("Gemm", "MatMul", "Conv", "ConvTranspose", *_GATES)


# ---------------------------------------------------------------------------------------------
# Shapes


@dataclass(frozen=True)
class Shapes:
    """A graph with its inputs at concrete shapes, and every tensor shape inference could size."""

    # The model with concrete inputs (the file's intermediate and output shapes dropped).
    model: Any
    # Tensor name -> concrete dims, for initializers and every value inference sized fully.
    dims: dict[str, list[int]]
    # Tensor name -> ONNX element type, where inference gave it with the dims.
    elem_types: dict[str, int]
    # Why ONNX's own inference failed (its shapes then come from ORT's alone), or None.
    onnx_error: str | None = None

    def nbytes(self, name: str) -> int | None:
        """Bytes of a tensor value, or None when its shape or element type is not known."""
        dims = self.dims.get(name)
        size = _itemsize(self.elem_types.get(name, 0))
        if dims is None or not size:
            return None
        return math.prod(dims) * size


def with_input_shapes(model: Any, shapes: Mapping[str, Sequence[int]]) -> Any:
    """A copy of ``model`` whose graph inputs have the given concrete shapes.

    Intermediate and output shapes the file carries are dropped, so that shape inference
    derives them again from the concrete inputs.
    """
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    weights = {i.name for i in m.graph.initializer}
    given = dict(shapes)
    for vi in m.graph.input:
        if vi.name in weights:
            continue
        if vi.name not in given:
            raise ModelError(
                f"no shape given for input '{vi.name}' (given: {', '.join(sorted(shapes)) or 'none'})"
            )
        shape = given.pop(vi.name)
        tt = vi.type.tensor_type
        tt.ClearField("shape")
        for d in shape:
            tt.shape.dim.add().dim_value = int(d)
    if given:
        raise ModelError(f"the model has no input named {', '.join(sorted(given))}")
    del m.graph.value_info[:]
    for vo in m.graph.output:
        vo.type.tensor_type.ClearField("shape")
    return m


def infer(model: Any, shapes: Mapping[str, Sequence[int]]) -> Shapes:
    """The shapes of every tensor of ``model`` (a ModelProto) with its inputs at ``shapes``."""
    import onnx

    concrete = with_input_shapes(model, shapes)
    dims: dict[str, list[int]] = {i.name: list(i.dims) for i in concrete.graph.initializer}
    types: dict[str, int] = {i.name: i.data_type for i in concrete.graph.initializer}
    error = None
    try:
        inferred = onnx.shape_inference.infer_shapes(concrete, strict_mode=False, data_prop=True)
        _collect(inferred, dims, types)
    except Exception as err:
        error = first_line(err)
        _collect(concrete, dims, types)
    if _gaps(concrete, dims, types):
        better = _ort_symbolic(concrete)
        if better is not None:
            _collect(better, dims, types)
    if _gaps(concrete, dims, types):
        # Shape arithmetic folded to constants (fold_shape_values), then both inferences again
        folded = fold_shape_values(concrete, dims, types)
        if folded is not None:
            with contextlib.suppress(Exception):  # what was inferred before stands
                again = onnx.shape_inference.infer_shapes(folded, strict_mode=False, data_prop=True)
                _collect(again, dims, types)
            if _gaps(concrete, dims, types):
                better = _ort_symbolic(folded)
                if better is not None:
                    _collect(better, dims, types)
    return Shapes(model=concrete, dims=dims, elem_types=types, onnx_error=error)


# Operators whose small integer results the shapes of a graph are computed with; with every
# input shape concrete their values are constants (torch.arange(batch) is a Range of a Shape).
_SHAPE_OPS = frozenset(
    {
        "Abs", "Add", "And", "Cast", "CastLike", "Ceil", "Concat", "Constant", "ConstantOfShape",
        "Div", "Equal", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "Greater",
        "Identity", "Less", "Max", "Min", "Mod", "Mul", "Neg", "Not", "Or", "Range", "ReduceMax",
        "ReduceMin", "ReduceProd", "ReduceSum", "Reshape", "Slice", "Squeeze", "Sub", "Tile",
        "Transpose", "Unsqueeze", "Where",
    }
)  # fmt: skip
# Values folded stay small: shape arithmetic, not the model's work.
_FOLD_ELEMENTS = 1 << 14


def fold_shape_values(model: Any, dims: Mapping[str, list[int]], types: Mapping[str, int]) -> Any | None:
    """A copy of ``model`` whose shape computations are constants, or None when none is.

    With the graph's inputs at concrete shapes, ``Shape`` and ``Size`` of a sized tensor are
    constants, and so is the small integer arithmetic on them (``Gather``, ``Range``,
    ``Concat``...). ONNX's shape inference propagates some of it but not all: a ``Range``
    over ``Shape`` values (``torch.arange(batch)``) stays unsized, and with it every tensor
    downstream (gnn_tau's neighbour gather, and the MatMuls after it). Each such node is
    evaluated once with ONNX's reference evaluator, and its results become initializers of
    the copy, so that shape inference sizes what follows. Nothing that depends on an input's
    values is folded.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    values: dict[str, Any] = {
        i.name: numpy_helper.to_array(i)
        for i in model.graph.initializer
        if math.prod(i.dims) <= _FOLD_ELEMENTS
    }
    folded: set[int] = set()
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or any(a.type in (5, 10) for a in node.attribute):
            continue  # another domain, or a subgraph (If, Loop, Scan)
        out: list[Any] | None = None
        if node.op_type in ("Shape", "Size") and dims.get(node.input[0]) is not None:
            shape = dims[node.input[0]]
            if node.op_type == "Size":
                out = [np.array(math.prod(shape), dtype=np.int64)]
            else:
                start, end = _attr(node, "start", 0), _attr(node, "end", None)
                out = [np.array(shape[start:end], dtype=np.int64)]
        elif node.op_type in _SHAPE_OPS and all(not i or i in values for i in node.input):
            try:
                evaluator = ReferenceEvaluator(node, opsets={"": opset} if opset else None)
                out = list(evaluator.run(None, {i: values[i] for i in node.input if i}))
            except Exception:
                out = None  # left to shape inference
        if out is None or len(out) != len(node.output) or any(np.size(v) > _FOLD_ELEMENTS for v in out):
            continue
        values.update((name, np.asarray(v)) for name, v in zip(node.output, out, strict=True) if name)
        folded.add(index)
    outputs = {o.name for o in model.graph.output}
    folded = {i for i in folded if not outputs & set(model.graph.node[i].output)}
    if not folded:
        return None
    kept = [n for i, n in enumerate(model.graph.node) if i not in folded]
    read = {name for n in kept for name in n.input}
    made = {name for i in folded for name in model.graph.node[i].output if name in read}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.node[:]
    m.graph.node.extend(kept)
    m.graph.initializer.extend(numpy_helper.from_array(values[name], name) for name in sorted(made))
    return m


def _collect(model: Any, dims: dict[str, list[int]], types: dict[str, int]) -> None:
    """Add the fully sized values of ``model``'s graph; what is known already stands."""
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        if not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        if vi.name in dims or not tt.HasField("shape"):
            continue
        if all(d.HasField("dim_value") for d in tt.shape.dim):
            dims[vi.name] = [int(d.dim_value) for d in tt.shape.dim]
            types[vi.name] = int(tt.elem_type)


def _gaps(model: Any, dims: Mapping[str, list[int]], types: Mapping[str, int]) -> bool:
    """Whether a graph input or node output is left without a size."""
    produced = [vi.name for vi in model.graph.input]
    produced += [o for n in model.graph.node for o in n.output if o]
    return any(name not in dims or not _itemsize(types.get(name, 0)) for name in produced)


def _ort_symbolic(model: Any) -> Any:
    """ONNX Runtime's symbolic shape inference, or None where it is missing or fails."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except ImportError:
        return None
    try:
        return SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=True)
    except Exception:
        return None  # the ONNX shapes stand; what is unknown is listed


def _itemsize(elem_type: int) -> int:
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        return int(tensor_dtype_to_np_dtype(elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 0


def _tensor_bytes(tensor: Any) -> int:
    return math.prod(int(d) for d in tensor.dims) * _itemsize(tensor.data_type)


def _load(path: Path | str) -> Any:
    from hepinfer.zoo.onnx_file import load_onnx

    return load_onnx(Path(path))


# ---------------------------------------------------------------------------------------------
# Cost


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
    model = _load(path)
    spec = spec if spec is not None else _spec_of(path)
    run_batch, resolved = _sizes(spec, batch, dims)
    return _cost(model, infer(model, spec.shapes(run_batch, resolved)), run_batch, resolved)


def _spec_of(path: Path) -> Any:
    from hepinfer.zoo.onnx_file import spec_from_onnx

    return spec_from_onnx(path)


def _sizes(spec: Any, batch: int, dims: Mapping[str, int] | None) -> tuple[int, dict[str, int]]:
    """The batch a configuration runs at and the sizes of its dynamic axes."""
    if batch < 1:
        raise ConfigurationError(f"batch size {batch} is not allowed: use 1 or more")
    resolved = spec.resolve_dims(dict(dims or {}))
    return (batch if spec.has_batch_axis else spec.default_batch()), resolved


def _cost(model: Any, shapes: Shapes, batch: int, dims: Mapping[str, int]) -> dict[str, Any]:
    params = 0
    weight_bytes = 0
    for init in model.graph.initializer:
        n = math.prod(init.dims)
        params += n
        weight_bytes += n * _itemsize(init.data_type)
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


# ---------------------------------------------------------------------------------------------
# Minimum


def _subgraph_inputs(node: Any) -> Iterator[str]:
    """Names read inside a node's subgraphs (outer-scope tensors among them)."""
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for g in graphs:
            for inner in g.node:
                yield from (n for n in inner.input if n)
                yield from _subgraph_inputs(inner)


def minimum_memory(model: Any, shapes: Mapping[str, Sequence[int]]) -> MinimumMemory:
    """The minimum of ``model`` (ModelProto or path) with its inputs at ``shapes``."""
    if isinstance(model, (str, Path)):
        model = _load(model)
    return _minimum(infer(model, shapes), shapes)


def _minimum(shapes: Shapes, given: Mapping[str, Sequence[int]]) -> MinimumMemory:
    if shapes.onnx_error is not None:
        raise ModelError(f"ONNX shape inference failed at shapes {dict(given)}: {shapes.onnx_error}")
    graph = shapes.model.graph
    size = shapes.nbytes
    weights = {i.name: _tensor_bytes(i) for i in graph.initializer}
    for sp in graph.sparse_initializer:
        weights[sp.values.name] = _tensor_bytes(sp.values) + _tensor_bytes(sp.indices)
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            weights[node.output[0]] = (
                _tensor_bytes(value) if value is not None else (size(node.output[0]) or 0)
            )

    nodes = [n for n in topological(list(graph.node), weights) if n.op_type != "Constant"]
    end = len(nodes)
    # Buffers: a view's output joins its input's buffer.
    buffer_of: dict[str, str] = {}

    def root(name: str) -> str:
        while name in buffer_of:
            name = buffer_of[name]
        return name

    birth: dict[str, int] = {}
    death: dict[str, int] = {}
    inputs = [vi.name for vi in graph.input if vi.name not in weights]
    for name in inputs:
        birth[name] = 0
        death[name] = 0
    subgraphs = 0
    for i, node in enumerate(nodes):
        read = [n for n in node.input if n] + list(_subgraph_inputs(node))
        subgraphs += any(a.HasField("g") or len(a.graphs) for a in node.attribute)
        for name in read:
            if name in weights:
                continue
            r = root(name)
            death[r] = max(death.get(r, i), i)
        for j, name in enumerate(n for n in node.output if n):
            if node.op_type in VIEW_OPS and j == 0 and node.input and node.input[0] not in weights:
                buffer_of[name] = root(node.input[0])
                continue
            birth[name] = i
            death[name] = max(death.get(name, i), i)
    for vo in graph.output:
        if vo.name not in weights:
            death[root(vo.name)] = max(end - 1, 0)

    unknown = tuple(sorted(b for b in birth if size(b) is None))
    delta = [0] * (end + 2)
    for name, b in birth.items():
        n = size(name) or 0
        delta[b] += n
        delta[death[name] + 1] -= n
    peak, live, at = 0, 0, -1
    for i in range(max(end, 1)):
        live += delta[i]
        if live > peak:
            peak, at = live, i
    peak_node = nodes[at] if 0 <= at < end else None
    return MinimumMemory(
        weight_bytes=sum(weights.values()),
        peak_activation_bytes=peak,
        peak_node=(peak_node.name or peak_node.output[0]) if peak_node is not None else "",
        peak_op=peak_node.op_type if peak_node is not None else "",
        input_bytes=sum(size(n) or 0 for n in inputs),
        output_bytes=sum(size(vo.name) or 0 for vo in graph.output),
        nodes=end,
        subgraphs=subgraphs,
        unknown=unknown,
    )


def topological(nodes: list[Any], available: Mapping[str, Any]) -> list[Any]:
    """The nodes in an order where each runs after its producers (the file's, if it is one).

    Stable: among nodes that are ready, the one earlier in the file comes first. Nodes in a
    cycle or reading tensors nobody produces keep their place at the end.
    """
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    needs = []
    for n in nodes:
        reads = [x for x in list(n.input) + list(_subgraph_inputs(n)) if x]
        needs.append({producer[x] for x in reads if x in producer and x not in available})
    if all(all(j < i for j in deps) for i, deps in enumerate(needs)):
        return nodes
    import heapq

    users: dict[int, list[int]] = {}
    for i, deps in enumerate(needs):
        for j in deps:
            users.setdefault(j, []).append(i)
    waiting = [len(d - {i}) for i, d in enumerate(needs)]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users.get(i, []):
            if u != i:
                waiting[u] -= 1
                if waiting[u] == 0:
                    heapq.heappush(ready, u)
    placed = set(order)
    order += [i for i in range(len(nodes)) if i not in placed]
    return [nodes[i] for i in order]


# ---------------------------------------------------------------------------------------------
# The annotations of a bench record


def _failed(err: Exception) -> dict[str, Any]:
    return {"error": f"{type(err).__name__}: {first_line(err)}"}


def analyse(
    path: Path | str,
    batch: int,
    dims: Mapping[str, int],
    spec: Any,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cost and the minimum of a configuration's model file, as the record holds them.

    One load and one shape inference for both. Computed by the parent before the measured
    worker starts (graph analysis is no part of what is measured). Never raises: each is an
    annotation, so a failure is recorded as ``{"error": ...}`` in its place.

    ``input_shapes`` are the shapes of the inputs the worker will run (its input builder's):
    where a builder decides a size itself (gnn_tau's flat form: the nodes of B events are not
    the spec's default ``n_nodes_total``), the cost is taken at those, and the dims recorded
    are the sizes they give the spec's symbols.
    """
    try:
        model = _load(path)
        run_batch, resolved = _sizes(spec, batch, dims)
        given = spec.shapes(run_batch, resolved)
        if input_shapes is not None:
            resolved = {**resolved, **_symbol_sizes(spec, input_shapes)}
            given = {**given, **{k: tuple(int(d) for d in v) for k, v in input_shapes.items() if k in given}}
        shapes = infer(model, given)
    except Exception as err:
        return _failed(err), _failed(err)
    try:
        cost = _cost(model, shapes, run_batch, resolved)
    except Exception as err:
        cost = _failed(err)
    try:
        minimum = _minimum(shapes, given).to_dict()
    except Exception as err:
        minimum = _failed(err)
    return cost, minimum


def _symbol_sizes(spec: Any, input_shapes: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """The size each symbolic axis of the spec's inputs has in these concrete shapes."""
    out: dict[str, int] = {}
    for t in spec.inputs:
        shape = input_shapes.get(t.name)
        if shape is None or len(shape) != len(t.shape):
            continue
        for axis, d in enumerate(t.shape):
            if isinstance(d, str) and axis != t.batch_axis:
                out[d] = int(shape[axis])
    return out


def cost_for_onnx(path: Path, batch: int, dims: Mapping[str, int], spec: Any) -> dict[str, Any]:
    """The cost of a configuration's model file at its batch and dims; never raises."""
    try:
        return model_cost(path, batch, dims, spec=spec)
    except Exception as err:
        return _failed(err)


def minimum_for_onnx(onnx_path: Path, shapes: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """The minimum of an ONNX file at concrete input shapes, as the record holds it; never raises."""
    try:
        return minimum_memory(onnx_path, {k: tuple(v) for k, v in shapes.items()}).to_dict()
    except Exception as err:
        return _failed(err)
