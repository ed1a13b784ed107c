"""Which variable axes of an ONNX file's inputs the graph ties together, and their names.

Real exports often name none of their variable axes: the legacy torch exporter calls them
``X_dynamic_axes_K``, tf2onnx ``unk__N``, and some files leave the axis blank. A
ParticleTransformer export then has one variable axis per input where the physics has one per
particle collection (its feature tensor and four-vector tensor share the particle axis). The
graph says which go together: an axis is tied to another when shape inference gives them the
same symbol, or when a node needs them equal, position by position:

- element-wise operators with broadcasting (Add, Mul, Where, ...): the axes at the same
  position counted from the right (a symbol broadcast against a fixed size ties nothing);
- Concat: every axis but the one concatenated along; and two concatenations along a variable
  axis that must be equal there, with as many parts, are taken to join the same collections:
  their parts are tied in order (ParticleNet concatenates the charged and the secondary-vertex
  points, then masks them with the masks concatenated likewise). The sum alone would not
  prove it; the parallel structure is what every such export has;
- MatMul: the first operand's last axis with the second's second-to-last, and the leading
  (batch-like) axes as for broadcasting;
- Conv and pooling with a window 1 wide, stride 1 and no padding on an axis (per-particle
  1x1 convolutions): that axis of the input with the output's (ONNX leaves it unsized).

Within one inference the symbols ONNX invents for what it cannot size (``unk__N``) carry ties
from node to node. Each round unites the input symbols these rules pair, renames every input
axis to its group's first symbol and runs ONNX shape inference again (a tie found downstream
of another needs the first one made); rounds end when nothing new is tied. The batch axis
takes part in none of it.

This is ONNX shape inference on symbols, not ``convert.shapes.infer`` (which makes the shapes
concrete to size every tensor, and lives above zoo/ in the layers): a tie is a statement about
symbols, which concrete sizes cannot make.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# Names exporters invent for an axis the author did not name.
INVENTED = re.compile(r"^(unk__\d+|.+_dynamic_axes_\d+)$")
_BATCH = "__hepinfer_batch__"
_BROADCAST = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Where", "Equal",
        "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "PRelu",
        "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    }
)  # fmt: skip
# A 1-wide window with stride 1 and no padding keeps a spatial axis (a per-particle 1x1 conv).
_WINDOWED = frozenset({"Conv", "MaxPool", "AveragePool", "LpPool"})
_MAX_ROUNDS = 8


def invented(symbol: str) -> bool:
    """Whether an axis name is an exporter's invention rather than the author's."""
    return bool(INVENTED.match(symbol))


class _Union:
    def __init__(self, order: Sequence[str]) -> None:
        self.parent: dict[str, str] = {}
        self.rank = {s: i for i, s in enumerate(order)}  # the first-seen symbol heads a group

    def find(self, s: str) -> str:
        self.parent.setdefault(s, s)
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, symbols: Iterable[str]) -> bool:
        roots = sorted({self.find(s) for s in symbols}, key=lambda r: self.rank.get(r, len(self.rank)))
        for r in roots[1:]:
            self.parent[r] = roots[0]
        return len(roots) > 1


def _shapes(model: Any) -> dict[str, list[int | str | None]]:
    """Value name -> dims (size, symbol, or None where unknown) after symbolic inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    out: dict[str, list[int | str | None]] = {}
    for vi in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output):
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None or not tt.HasField("shape"):
            continue
        out[vi.name] = [
            d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in tt.shape.dim
        ]
    for init in inferred.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _symbol(d: int | str | None) -> str | None:
    return d if isinstance(d, str) and d and d != _BATCH else None


def _pairs(node: Any, shapes: dict[str, list[int | str | None]]) -> Iterable[list[str]]:
    """Groups of symbols the node needs equal."""
    ins = [shapes.get(n) for n in node.input if n]
    outs = [shapes.get(n) for n in node.output if n]
    known = [s for s in ins + outs if s is not None]
    if node.op_type in _BROADCAST:
        rank = max((len(s) for s in known), default=0)
        for back in range(1, rank + 1):
            dims = [s[-back] for s in known if len(s) >= back]
            if any(d == 1 for d in dims):
                dims = [d for d in dims if d != 1]  # a size-1 axis broadcasts: it ties nothing
            yield [s for s in map(_symbol, dims) if s]
    elif node.op_type == "Concat":
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        rank = max((len(s) for s in known), default=0)
        axis = axis + rank if axis < 0 else axis
        for pos in range(rank):
            if pos != axis:
                yield [s for s in (_symbol(x[pos]) for x in known if len(x) == rank) if s]
    elif node.op_type in _WINDOWED and ins and ins[0] is not None and outs and outs[0] is not None:
        x, y = ins[0], outs[0]
        kernel = _kernel(node, shapes)
        strides = _ints(node, "strides")
        pads = _ints(node, "pads")
        for i in range(len(x) - 2):
            k = kernel[i] if kernel and i < len(kernel) else None
            one = (not strides or strides[i] == 1) and (not pads or pads[i] == pads[i + len(x) - 2] == 0)
            if k == 1 and one and _auto_pad(node) in ("NOTSET", "VALID") and i + 2 < len(y):
                yield [s for s in (_symbol(x[i + 2]), _symbol(y[i + 2])) if s]
    elif node.op_type == "MatMul" and len(ins) == 2:
        a, b = ins[0] or [], ins[1] or []
        if a and b:
            yield [s for s in (_symbol(a[-1]), _symbol(b[-2] if len(b) >= 2 else b[0])) if s]
        lead = [x[:-2] for x in (a, b) if len(x) > 2]
        for back in range(1, max((len(x) for x in lead), default=0) + 1):
            yield [s for s in (_symbol(x[-back]) for x in lead if len(x) >= back) if s]


def _concat_parts(node: Any, shapes: dict[str, list[int | str | None]]) -> tuple[str, list[str]] | None:
    """A Concat along a variable axis: (the output's symbol there, the parts' symbols)."""
    if node.op_type != "Concat" or not node.output:
        return None
    out = shapes.get(node.output[0])
    parts = [shapes.get(n) for n in node.input]
    if out is None or any(p is None or len(p) != len(out) for p in parts):
        return None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    axis = axis + len(out) if axis < 0 else axis
    symbols = [_symbol(p[axis]) for p in parts if p is not None]
    total = _symbol(out[axis])
    if total is None or any(x is None for x in symbols):
        return None
    return total, [x for x in symbols if x]


def _ints(node: Any, name: str) -> list[int]:
    return next((list(a.ints) for a in node.attribute if a.name == name), [])


def _auto_pad(node: Any) -> str:
    value = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    return value.decode() if isinstance(value, bytes) else str(value)


def _kernel(node: Any, shapes: dict[str, list[int | str | None]]) -> list[int]:
    """The window's spatial size: ``kernel_shape``, else a Conv's weight dims."""
    kernel = _ints(node, "kernel_shape")
    if not kernel and node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
        w = shapes.get(node.input[1]) or []
        kernel = [d if isinstance(d, int) else -1 for d in w[2:]]
    return kernel


def tie_axes(model: Any, inputs: Sequence[tuple[str, Sequence[int | str]]]) -> dict[str, str]:
    """Each variable symbol of ``inputs`` -> the first symbol of its group (itself if alone).

    ``inputs``: (name, dims) per graph input, the batch axis given as ``"batch"`` and every
    variable axis as a distinct or shared symbol; ``model`` is not changed. Where ONNX shape
    inference fails on the file, no axis is tied (each is its own group).
    """
    import onnx

    order: list[str] = []
    for _, dims in inputs:
        order += [d for d in dims if isinstance(d, str) and d != "batch" and d not in order]
    groups = _Union(order)
    if len(order) < 2:
        return {s: s for s in order}
    # Symbols of our own in the copy: ONNX invents ``unk__N`` for what it cannot size, afresh
    # in every round, and a file's own ``unk__N`` must not meet those.
    token = {s: f"__hepinfer_axis_{i}__" for i, s in enumerate(order)}
    back = {t: s for s, t in token.items()}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    for vo in m.graph.output:
        vo.type.tensor_type.ClearField("shape")
    given = dict(inputs)
    for _ in range(_MAX_ROUNDS):
        for vi in m.graph.input:
            if vi.name not in given:
                continue
            tt = vi.type.tensor_type
            tt.ClearField("shape")
            for d in given[vi.name]:
                dim = tt.shape.dim.add()
                if d == "batch":
                    dim.dim_param = _BATCH
                elif isinstance(d, str):
                    dim.dim_param = token[groups.find(d)]
                else:
                    dim.dim_value = int(d)
        try:
            shapes = _shapes(m)
        except Exception:  # a file ONNX cannot infer: no (further) ties rather than no spec
            break
        # This round's ties, through the symbols ONNX invented in it, kept for the inputs only.
        local = _Union([token[s] for s in order])
        for node in m.graph.node:
            for group in _pairs(node, shapes):
                if len(group) > 1:
                    local.union(group)
        concats = [c for c in map(lambda n: _concat_parts(n, shapes), m.graph.node) if c]
        for i, (out_a, parts_a) in enumerate(concats):
            for out_b, parts_b in concats[i + 1 :]:
                if len(parts_a) == len(parts_b) and local.find(out_a) == local.find(out_b):
                    for a, b in zip(parts_a, parts_b, strict=True):
                        local.union([a, b])
        changed = False
        for s in order:
            root = local.find(token[groups.find(s)])
            if root in back and groups.union([s, back[root]]):
                changed = True
        by_root: dict[str, list[str]] = {}
        for s in order:
            by_root.setdefault(local.find(token[groups.find(s)]), []).append(s)
        for members in by_root.values():
            if groups.union(members):
                changed = True
        if not changed:
            break
    return {s: groups.find(s) for s in order}


def name_groups(
    inputs: Sequence[tuple[str, Sequence[int | str]]], ties: dict[str, str], generated: set[str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(symbol -> its group's name, the (alias, group name) pairs --dim accepts besides).

    A group keeps the first name its author gave one of its axes; a group of invented names
    (``generated``: the names of blank axes) is named after its first input, ``n_INPUT``
    (``n_INPUT_AXIS`` where that is taken).
    """
    members: dict[str, list[tuple[str, int, str]]] = {}
    for name, dims in inputs:
        for axis, d in enumerate(dims):
            if isinstance(d, str) and d != "batch":
                members.setdefault(ties.get(d, d), []).append((name, axis, d))
    names: dict[str, str] = {}
    taken: set[str] = set()
    for root, axes in members.items():
        authored = [d for _, _, d in axes if not invented(d) and d not in generated]
        if authored:
            names[root] = authored[0]
        else:
            tensor, axis, _ = axes[0]
            names[root] = f"n_{tensor}" if f"n_{tensor}" not in taken else f"n_{tensor}_{axis}"
        taken.add(names[root])
    rename = {d: names[root] for root, axes in members.items() for _, _, d in axes}
    aliases = sorted({(d, g) for d, g in rename.items() if d != g})
    return rename, aliases
