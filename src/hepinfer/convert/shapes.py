"""The shapes of every tensor of an ONNX graph with its inputs at concrete sizes.

One shape inference serves both annotations the parent computes before a measured worker
starts (cost in ``convert.cost``, the memory minimum in ``convert.graph_minimum``; both at once
in ``convert.analysis.analyse``), so that they read the same shapes of the same graph:

The graph's inputs are made concrete at the batch and dynamic-axis sizes, the shapes the file
carries for intermediates and outputs dropped, then ONNX shape inference runs (data propagation
on, not strict); where it leaves a tensor unsized (Shape -> Reshape chains, TopK, ...), ONNX
Runtime's symbolic shape inference, when installed, fills the gaps (what ONNX inferred stands).
Where gaps remain, the shape arithmetic (Shape, Range, Gather, Concat ... of shape values,
constants once the inputs are concrete) is folded into initializers and both inferences run
again on that copy (``fold_shape_values``): gnn_tau's ``torch.arange(batch)`` neighbour gather
left three MatMuls unsized before.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import ModelError, first_line


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
        size = itemsize(self.elem_types.get(name, 0))
        if dims is None or not size:
            return None
        return math.prod(dims) * size


def load_model(path: Path | str) -> Any:
    """The ModelProto of an ONNX file (external data included)."""
    from hepinfer.zoo.onnx_file import load_onnx

    return load_onnx(Path(path))


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

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    values: dict[str, Any] = {
        i.name: numpy_helper.to_array(i)
        for i in model.graph.initializer
        if math.prod(i.dims) <= _FOLD_ELEMENTS
    }
    folded: set[int] = set()
    for index, node in enumerate(model.graph.node):
        out = _constant_outputs(node, dims, values, opset)
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


def _constant_outputs(
    node: Any, dims: Mapping[str, list[int]], values: Mapping[str, Any], opset: int | None
) -> list[Any] | None:
    """The values of ``node``'s outputs where they are constants of the concrete input shapes
    (``Shape``/``Size`` of a sized tensor, shape arithmetic on known values), else None."""
    import numpy as np
    from onnx.reference import ReferenceEvaluator

    if node.domain not in ("", "ai.onnx") or any(a.type in (5, 10) for a in node.attribute):
        return None  # another domain, or a subgraph (If, Loop, Scan)
    if node.op_type in ("Shape", "Size") and dims.get(node.input[0]) is not None:
        shape = dims[node.input[0]]
        if node.op_type == "Size":
            return [np.array(math.prod(shape), dtype=np.int64)]
        start, end = attribute(node, "start", 0), attribute(node, "end", None)
        return [np.array(shape[start:end], dtype=np.int64)]
    if node.op_type in _SHAPE_OPS and all(not i or i in values for i in node.input):
        try:
            evaluator = ReferenceEvaluator(node, opsets={"": opset} if opset else None)
            return list(evaluator.run(None, {i: values[i] for i in node.input if i}))
        except Exception:
            return None  # left to shape inference
    return None


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
    return any(name not in dims or not itemsize(types.get(name, 0)) for name in produced)


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


def itemsize(elem_type: int) -> int:
    """Bytes of one element of an ONNX element type; 0 for a type numpy has no dtype for."""
    from onnx.helper import tensor_dtype_to_np_dtype

    try:
        return int(tensor_dtype_to_np_dtype(elem_type).itemsize)
    except (KeyError, TypeError, ValueError):
        return 0


def tensor_bytes(tensor: Any) -> int:
    """Bytes of a TensorProto's values."""
    return math.prod(int(d) for d in tensor.dims) * itemsize(tensor.data_type)


def attribute(node: Any, name: str, default: Any) -> Any:
    """The value of a node's attribute, or ``default`` where the node does not set it."""
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default
