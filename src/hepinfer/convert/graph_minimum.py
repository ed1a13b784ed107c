"""The graph-level memory minimum of an ONNX model at concrete input shapes.

minimum = weight bytes + the peak, over the nodes in the graph's topological order, of the
bytes of the tensors alive at that node, at the shapes ``convert.shapes.infer`` gives them.

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

The result type and the comparison with what was measured (``MinimumMemory``,
``with_ratios``) are framework-free and live in ``measure.min_memory``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.convert.onnx_graph import subgraph_names
from hepinfer.convert.shapes import Shapes, infer, load_model, tensor_bytes
from hepinfer.errors import ModelError
from hepinfer.measure.min_memory import MinimumMemory

VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


def minimum_memory(model: Any, shapes: Mapping[str, Sequence[int]]) -> MinimumMemory:
    """The minimum of ``model`` (ModelProto or path) with its inputs at ``shapes``."""
    if isinstance(model, (str, Path)):
        model = load_model(model)
    return minimum_at_shapes(infer(model, shapes), shapes)


def minimum_at_shapes(shapes: Shapes, given: Mapping[str, Sequence[int]]) -> MinimumMemory:
    """The minimum of the graph whose tensors have ``shapes`` (inferred at the inputs ``given``)."""
    if shapes.onnx_error is not None:
        raise ModelError(f"ONNX shape inference failed at shapes {dict(given)}: {shapes.onnx_error}")
    graph = shapes.model.graph
    size = shapes.nbytes
    weights = _weight_bytes(graph, size)
    nodes = [n for n in topological(list(graph.node), weights) if n.op_type != "Constant"]
    end = len(nodes)
    live = _lifetimes(graph, nodes, weights)
    unknown = tuple(sorted(b for b in live.birth if size(b) is None))
    peak, at = _peak(end, live, size)
    peak_node = nodes[at] if 0 <= at < end else None
    return MinimumMemory(
        weight_bytes=sum(weights.values()),
        peak_activation_bytes=peak,
        peak_node=(peak_node.name or peak_node.output[0]) if peak_node is not None else "",
        peak_op=peak_node.op_type if peak_node is not None else "",
        input_bytes=sum(size(n) or 0 for n in live.inputs),
        output_bytes=sum(size(vo.name) or 0 for vo in graph.output),
        nodes=end,
        subgraphs=live.subgraphs,
        unknown=unknown,
    )


def _weight_bytes(graph: Any, size: Callable[[str], int | None]) -> dict[str, int]:
    """Bytes of each weight: initializers (sparse ones too) and Constant nodes' values."""
    weights = {i.name: tensor_bytes(i) for i in graph.initializer}
    for sp in graph.sparse_initializer:
        weights[sp.values.name] = tensor_bytes(sp.values) + tensor_bytes(sp.indices)
    for node in graph.node:
        if node.op_type == "Constant":
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            known = tensor_bytes(value) if value is not None else None
            weights[node.output[0]] = known if known is not None else (size(node.output[0]) or 0)
    return weights


@dataclass
class _Lifetimes:
    """When each activation buffer is born and dies, as indices into the node order."""

    # The graph's inputs that are not weights (alive from the first node).
    inputs: list[str]
    birth: dict[str, int] = field(default_factory=dict)
    death: dict[str, int] = field(default_factory=dict)
    # Nodes that own a subgraph (If, Loop, Scan), whose own intermediates are not counted.
    subgraphs: int = 0


def _lifetimes(graph: Any, nodes: list[Any], weights: Mapping[str, int]) -> _Lifetimes:
    """The birth and death of every buffer over ``nodes``; a view's output joins its input's."""
    buffer_of: dict[str, str] = {}

    def root(name: str) -> str:
        while name in buffer_of:
            name = buffer_of[name]
        return name

    live = _Lifetimes(inputs=[vi.name for vi in graph.input if vi.name not in weights])
    birth, death = live.birth, live.death
    for name in live.inputs:
        birth[name] = 0
        death[name] = 0
    for i, node in enumerate(nodes):
        read = [n for n in node.input if n] + list(_subgraph_inputs(node))
        live.subgraphs += any(a.HasField("g") or len(a.graphs) for a in node.attribute)
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
            death[root(vo.name)] = max(len(nodes) - 1, 0)
    return live


def _peak(end: int, live: _Lifetimes, size: Callable[[str], int | None]) -> tuple[int, int]:
    """The most bytes alive at once over ``end`` nodes, and the node where (-1: none)."""
    delta = [0] * (end + 2)
    for name, b in live.birth.items():
        n = size(name) or 0
        delta[b] += n
        delta[live.death[name] + 1] -= n
    peak, alive, at = 0, 0, -1
    for i in range(max(end, 1)):
        alive += delta[i]
        if alive > peak:
            peak, at = alive, i
    return peak, at


def _subgraph_inputs(node: Any) -> Iterator[str]:
    """Names read inside a node's subgraphs (outer-scope tensors among them)."""
    return (name for name in subgraph_names(node) if name)


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
