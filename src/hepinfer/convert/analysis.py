"""What the ONNX graph says about a configuration's model, as its record holds it.

The parent computes two annotations before a measured worker starts (``runner.stage``), from
one load of the file and one shape inference, so that they read the same shapes of the same
graph:

- Shapes: ``convert.shapes`` (``infer``: ONNX shape inference at concrete input sizes, ONNX
  Runtime's symbolic inference for the gaps, shape arithmetic folded by
  ``fold_shape_values`` where gaps remain).
- Cost: ``convert.cost`` (``model_cost``: parameters, weight bytes and the MACs of Gemm,
  MatMul, Conv, ConvTranspose and the recurrent cells).
- Minimum: ``convert.graph_minimum`` (``minimum_memory``: weight bytes + the peak of the
  tensors alive over the nodes in topological order); the result type and the comparison
  with what was measured live in ``measure.min_memory``.

Each annotation never raises here: a failure is recorded as ``{"error": ...}`` in its place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepinfer.convert.cost import cost_at_shapes, model_cost, run_sizes
from hepinfer.convert.graph_minimum import minimum_at_shapes, minimum_memory
from hepinfer.convert.shapes import infer, load_model
from hepinfer.errors import first_line


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
        model = load_model(path)
        run_batch, resolved = run_sizes(spec, batch, dims)
        given = spec.shapes(run_batch, resolved)
        if input_shapes is not None:
            resolved = {**resolved, **_symbol_sizes(spec, input_shapes)}
            given = {**given, **{k: tuple(int(d) for d in v) for k, v in input_shapes.items() if k in given}}
        shapes = infer(model, given)
    except Exception as err:
        return _failed(err), _failed(err)
    try:
        cost = cost_at_shapes(model, shapes, run_batch, resolved)
    except Exception as err:
        cost = _failed(err)
    try:
        minimum = minimum_at_shapes(shapes, given).to_dict()
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
