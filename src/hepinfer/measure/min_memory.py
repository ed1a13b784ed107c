"""The theoretical minimum memory of an ONNX model at a batch size.

minimum = weight bytes + the peak, over the nodes in the graph's topological order, of the
bytes of the tensors alive at that node.

- Weights: initializers and the values of Constant nodes, kept for the model's lifetime.
- Shapes: ONNX shape inference with the inputs' batch and dynamic axes made concrete; where
  it leaves tensors unknown (Shape -> Reshape chains, TopK...), ONNX Runtime's symbolic shape
  inference when onnxruntime is installed.
- Order: the file's node order, or a topological sort of it where the file is not sorted.
- Liveness: a tensor is alive from the node that produces it (graph inputs: from the first
  node) to its last consumer (graph outputs: to the end; a tensor nobody reads dies where it
  is born). A node's inputs and outputs are alive together while it runs, so no operator is
  assumed to work in place, except the pure view operators (Reshape, Flatten, Squeeze,
  Unsqueeze, Identity), whose output shares its input's buffer as every runtime does.
- Subgraphs (If, Loop, Scan): outer tensors they read count as read by the node that owns the
  subgraph; the subgraph's own intermediates are not counted (reported as ``subgraphs``).
- Tensors whose shape inference cannot tell count 0 and are listed in ``unknown``: the
  minimum is then a lower bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import ModelError, first_line

VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


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


def _itemsize(elem_type: int) -> int:
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        return int(tensor_dtype_to_np_dtype(elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 0


def _tensor_bytes(tensor: Any) -> int:
    n = 1
    for d in tensor.dims:
        n *= int(d)
    return n * _itemsize(tensor.data_type)


def _value_bytes(value_info: Any) -> int | None:
    """Bytes of a tensor value, or None when its shape or type is not fully known."""
    tt = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    n = 1
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        n *= int(d.dim_value)
    size = _itemsize(tt.elem_type)
    return n * size if size else None


def _subgraph_inputs(node: Any) -> Iterator[str]:
    """Names read inside a node's subgraphs (outer-scope tensors among them)."""
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for g in graphs:
            for inner in g.node:
                yield from (n for n in inner.input if n)
                yield from _subgraph_inputs(inner)


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


def minimum_memory(model: Any, shapes: Mapping[str, Sequence[int]]) -> MinimumMemory:
    """The minimum of ``model`` (ModelProto or path) with its inputs at ``shapes``."""
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    concrete = with_input_shapes(model, shapes)
    try:
        inferred = onnx.shape_inference.infer_shapes(concrete, strict_mode=False, data_prop=True)
    except Exception as err:
        first = first_line(err)
        raise ModelError(f"ONNX shape inference failed at shapes {dict(shapes)}: {first}") from err
    graph = inferred.graph
    sizes = _sizes(graph)
    if any(v is None for v in sizes.values()) or len(sizes) < _produced(graph):
        better = _ort_symbolic(concrete)
        if better is not None:
            graph = better.graph
            sizes = _sizes(graph)

    weights = {i.name: _tensor_bytes(i) for i in graph.initializer}
    for sp in graph.sparse_initializer:
        weights[sp.values.name] = _tensor_bytes(sp.values) + _tensor_bytes(sp.indices)
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            weights[node.output[0]] = (
                _tensor_bytes(value) if value is not None else (sizes.get(node.output[0]) or 0)
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

    unknown = tuple(sorted(b for b in birth if sizes.get(b) is None))
    delta = [0] * (end + 2)
    for name, b in birth.items():
        size = sizes.get(name) or 0
        delta[b] += size
        delta[death[name] + 1] -= size
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
        input_bytes=sum(sizes.get(n) or 0 for n in inputs),
        output_bytes=sum(sizes.get(vo.name) or 0 for vo in graph.output),
        nodes=end,
        subgraphs=subgraphs,
        unknown=unknown,
    )


def _sizes(graph: Any) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        sizes[vi.name] = _value_bytes(vi)
    return sizes


def _produced(graph: Any) -> int:
    """How many tensors the graph's inputs and nodes produce (each should have a size)."""
    return len(graph.input) + sum(len([o for o in n.output if o]) for n in graph.node)


def _ort_symbolic(model: Any) -> Any:
    """ONNX Runtime's symbolic shape inference, or None where it is missing or fails."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except ImportError:
        return None
    try:
        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:
        return None  # the ONNX shapes stand; what is unknown is listed


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


def minimum_for_onnx(onnx_path: Path, shapes: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """The minimum of an ONNX file at concrete input shapes, as the record holds it.

    Computed by the parent before a measured worker starts (graph analysis is no part of what
    is measured). Never raises: a failure is recorded as ``{"error": ...}``, since the minimum
    is an annotation.
    """
    try:
        return minimum_memory(onnx_path, {k: tuple(v) for k, v in shapes.items()}).to_dict()
    except Exception as err:
        first = first_line(err)
        return {"error": f"{type(err).__name__}: {first}"}


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
