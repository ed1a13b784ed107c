"""An index over one ONNX graph: who produces and who consumes each value, constant values,
element types, and paths back to the inputs. Every check reads the graph through this."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def subgraph_names(node: Any) -> Iterator[str]:
    """Values a node's subgraphs (If, Loop, Scan bodies) read from the enclosing graph."""
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for g in graphs:
            for n in g.node:
                yield from n.input
                yield from subgraph_names(n)


@dataclass
class GraphIndex:
    """Producers, consumers, initializers and types of the main graph of a model."""

    model: Any
    producer: dict[str, Any] = field(default_factory=dict)
    consumers: dict[str, list[Any]] = field(default_factory=dict)
    initializers: dict[str, Any] = field(default_factory=dict)
    elem_type: dict[str, int] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # graph inputs that are not initializers

    @classmethod
    def of(cls, model: Any) -> GraphIndex:
        """Index ``model`` (types from ONNX shape inference where it succeeds)."""
        import onnx

        try:
            typed = onnx.shape_inference.infer_shapes(model)
        except Exception:
            typed = model  # a graph the inference rejects still gets its declared types
        g = model.graph
        index = cls(model)
        index.initializers = {t.name: t for t in g.initializer}
        for vi in list(typed.graph.value_info) + list(g.input) + list(g.output):
            if vi.type.HasField("tensor_type"):
                index.elem_type[vi.name] = vi.type.tensor_type.elem_type
        for t in g.initializer:
            index.elem_type[t.name] = t.data_type
        index.inputs = [vi.name for vi in g.input if vi.name not in index.initializers]
        for node in g.node:
            for out in node.output:
                if out:
                    index.producer[out] = node
            for name in [*node.input, *subgraph_names(node)]:
                if name:
                    index.consumers.setdefault(name, []).append(node)
        return index

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer or of a Constant node's output, else None."""
        from onnx import numpy_helper

        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
                if attr.name in ("value_int", "value_ints"):
                    return np.array(attr.i if attr.name == "value_int" else list(attr.ints))
                if attr.name in ("value_float", "value_floats"):
                    return np.array(attr.f if attr.name == "value_float" else list(attr.floats))
        return None

    def path_from_inputs(self, node: Any) -> list[str]:
        """The shortest chain from a graph input to ``node``: the input's name first, then the
        node labels on the way, ``node``'s last."""
        toward: dict[int, Any] = {id(node): None}  # a node -> the next node on the way to ``node``
        queue: deque[Any] = deque([node])
        while queue:
            current = queue.popleft()
            for name in current.input:
                if name in self.inputs:
                    chain = [name]
                    walk = current
                    while walk is not None:
                        chain.append(node_label(walk))
                        walk = toward[id(walk)]
                    return chain
                parent = self.producer.get(name)
                if parent is not None and id(parent) not in toward:
                    toward[id(parent)] = current
                    queue.append(parent)
        return [node_label(node)]


def node_label(node: Any) -> str:
    """A node as findings name it: its name, or its op type and first output when unnamed."""
    return node.name or f"{node.op_type}->{node.output[0] if node.output else '?'}"


def topological(graph: Any) -> list[Any]:
    """The nodes of ``graph`` in an order where each comes after the producers of its inputs
    (the file's order where it already is one; some real exports list nodes out of order)."""
    available = {t.name for t in graph.initializer} | {vi.name for vi in graph.input} | {""}
    produced = _produced(graph)
    waiting = list(graph.node)
    ordered: list[Any] = []
    while waiting:
        left = []
        for node in waiting:
            if all(n in available for n in [*node.input, *subgraph_names(node)] if n in produced):
                ordered.append(node)
                available.update(node.output)
            else:
                left.append(node)
        if len(left) == len(waiting):  # a cycle or a dangling input: keep the file's order
            ordered.extend(left)
            break
        waiting = left
    return ordered


def _produced(graph: Any) -> set[str]:
    return {o for n in graph.node for o in n.output}
