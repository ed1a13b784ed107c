"""Layerwise validation: the first node that goes wrong.

Every intermediate tensor of the ONNX graph is made a graph output (``expose_all``); the model
runs in worker processes and the tensors are compared node by node, in topological order:

- ``backends``: one input set (by default the padded events of ``validate``) on two backends;
- ``padding``: one backend, an event with no padding against the same event with extra padded
  (all-zero, mask 0) particles. A tensor of the padded run is cut back to the unpadded shape
  before it is compared (the real particles come first); integer tensors (shapes, indices)
  differ by construction and are not compared.

The report names the first node whose output turns NaN/Inf or leaves the tolerance, its op
type, the value ranges of its inputs in the run that went wrong, and the path from the graph
inputs to it. Exposing a tensor keeps the backend from fusing it away, so a bug that lives
only in a fused kernel can hide here; the model's own outputs are compared all the same.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.measure.agreement import Tolerance, tolerance
from hepinfer.runner.validate.inputs import event_axes, pad_events, padded_axis
from hepinfer.runner.validate.outputs import run_outputs
from hepinfer.zoo import ModelRef, ModelSpec, build_inputs, model_ref, spec_of

Mode = Literal["backends", "padding"]


@dataclass(frozen=True)
class LayerwiseRequest:
    """What to compare layer by layer."""

    model: str
    mode: Mode = "backends"
    # backends: the reference then the backend compared; padding: the first one runs both sets.
    backends: Sequence[str] = ("onnxruntime", "openvino")
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    batch: int = 4  # events of the backends mode (a fixed-batch file: its batch)
    inputs: Literal["padded", "realistic"] = "padded"
    extra_padding: int = 8  # padded particles added in the padding mode
    precision: str = "fp32"
    rtol: float | None = None
    atol: float | None = None
    timeout_s: float = 900.0


def expose_all(model: Any) -> tuple[Any, list[Any]]:
    """A copy of ``model`` whose every node output of known tensor type is a graph output,
    and its nodes in topological order. Constant nodes are left out (they are not computed)."""
    import onnx

    from hepinfer.convert.onnx_graph import topological

    typed = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi for vi in [*typed.graph.value_info, *typed.graph.output]}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    have = {o.name for o in out.graph.output}
    order = topological(out.graph)
    for node in order:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            vi = types.get(name)
            if not name or name in have or vi is None or not vi.type.HasField("tensor_type"):
                continue
            elem = vi.type.tensor_type.elem_type
            out.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, None))
            have.add(name)
    return out, order


def padding_pair(
    ref: ModelRef, spec: ModelSpec, dims: Mapping[str, int], extra: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """One event without padding, the same event with ``extra`` padded particles per particle
    axis, and the number of real particles on each axis symbol."""
    axes = {t.name: padded_axis(spec, t.name) for t in spec.inputs}
    symbols: dict[str, str] = {
        t.name: str(t.shape[a])
        for t in spec.inputs
        if (a := axes[t.name]) is not None and isinstance(t.shape[a], str)
    }
    if not symbols:
        raise ConfigurationError(
            f"{spec.name} has no input with a dynamic particle axis (a mask or features sharing its "
            "axis): the padding mode needs one; use --layerwise-mode backends"
        )
    full = spec.resolve_dims(dims)
    event = build_inputs(ref, spec, spec.fixed_batch or 8, full, seed)
    if spec.fixed_batch is None:  # the event with the most real particles, alone
        counts = [_filled(event[n], int(axes[n] or 0)) for n in symbols]
        busiest = int(np.argmax(np.sum(counts, axis=0)))
        axes_ev = event_axes(spec, spec.inputs)
        event = {
            k: v if (a := axes_ev[k]) is None else np.take(v, [busiest], axis=a) for k, v in event.items()
        }
    real: dict[str, int] = {}
    for name, sym in symbols.items():
        x = np.moveaxis(event[name], int(axes[name] or 0), -1)
        filled = np.flatnonzero(np.abs(x).reshape(-1, x.shape[-1]).sum(axis=0))
        real[str(sym)] = max(real.get(str(sym), 1), int(filled[-1]) + 1 if filled.size else 1)
    base: dict[str, np.ndarray] = {}
    padded: dict[str, np.ndarray] = {}
    for name, value in event.items():
        if name not in symbols:
            base[name] = padded[name] = value
            continue
        sym = symbols[name]
        a = axes[name]
        assert a is not None
        cut = np.take(value, np.arange(real[str(sym)]), axis=a)
        widths = [(0, 0)] * value.ndim
        widths[a] = (0, extra)
        base[name] = np.ascontiguousarray(cut)
        padded[name] = np.pad(cut, widths)
    return base, padded, real


def _filled(x: np.ndarray, axis: int) -> np.ndarray:
    """Per event, how many entries along ``axis`` are not all zero."""
    moved = np.moveaxis(x, axis, -1)
    return (np.abs(moved.reshape(moved.shape[0], -1, moved.shape[-1])).sum(axis=1) > 0).sum(axis=-1)


def _backends_sets(request: LayerwiseRequest, ref: ModelRef, spec: ModelSpec) -> dict[str, np.ndarray]:
    batch = spec.fixed_batch or request.batch
    dims = spec.resolve_dims(request.dims)
    x = build_inputs(ref, spec, batch, dims, request.seed)
    if request.inputs == "padded":
        x = pad_events(spec, x, np.arange(batch) % 3 + 1)
    return x


def run_layerwise(request: LayerwiseRequest, workdir: Path | None = None) -> dict[str, Any]:
    """Compare every intermediate tensor; returns the report (JSON-serialisable)."""
    import onnx

    from hepinfer.backends.registry import check_name
    from hepinfer.convert.artifact import ModelArtifact

    if request.mode not in ("backends", "padding"):
        raise ConfigurationError(f"--layerwise-mode {request.mode}: choose backends or padding")
    backends = [check_name(b) for b in request.backends]
    if request.mode == "backends" and len(backends) != 2:
        raise ConfigurationError(
            f"--layerwise compares two backends, got {len(backends)} ({', '.join(backends)}): "
            "give --backend A,B (or --layerwise-mode padding for one backend)"
        )
    tol = tolerance(request.precision, request.rtol, request.atol)
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    source = ModelArtifact(ref, spec, exporter=request.exporter).onnx_path()
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="hepinfer-layerwise-")) if workdir is None else workdir
    try:
        model = onnx.load(str(source))
        exposed, order = expose_all(model)
        path = work / "layerwise.onnx"
        onnx.save(exposed, str(path))
        opts = request.options
        if request.mode == "backends":
            x = _backends_sets(request, ref, spec)
            a, b = backends
            got_a = run_outputs(
                path, a, {"x": x}, work, "a", request.timeout_s, opts.get(a), seed=request.seed
            )
            got_b = run_outputs(
                path, b, {"x": x}, work, "b", request.timeout_s, opts.get(b), seed=request.seed
            )
            runs = (got_a["x"], got_b["x"])
            feeds = (x, x)
            labels = (a, b)
            extra: dict[str, Any] = {"inputs": request.inputs}
        else:
            base, padded, real = padding_pair(ref, spec, request.dims, request.extra_padding, request.seed)
            b0 = backends[0]
            got = run_outputs(
                path, b0, {"base": base, "padded": padded}, work, "p", request.timeout_s, opts.get(b0),
                seed=request.seed,
            )  # fmt: skip
            runs = (got["base"], got["padded"])
            feeds = (base, padded)
            labels = ("unpadded", f"+{request.extra_padding} padded")
            extra = {"backend": b0, "real_particles": real, "extra_padding": request.extra_padding}
        report = compare_layers(model, order, runs, feeds, tol, cut=request.mode == "padding")
        report.update(
            model=ref.label, mode=request.mode, compared=list(labels), tolerance=tol.to_dict(), **extra
        )
        return report
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def compare_layers(
    model: Any,
    order: Sequence[Any],
    runs: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    feeds: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]],
    tol: Tolerance,
    cut: bool = False,
) -> dict[str, Any]:
    """Node by node in ``order``: the first whose output is non-finite or out of tolerance.

    ``runs`` are the two runs' tensors by name, ``feeds`` their inputs; ``cut`` cuts the
    second run's tensors back to the first's shape (the padding mode).
    """
    from hepinfer.convert.onnx_graph import GraphIndex

    g = GraphIndex.of(model)
    first_nonfinite: dict[str, Any] | None = None
    first_mismatch: dict[str, Any] | None = None
    compared = 0
    for position, node in enumerate(order):
        for name in node.output:
            if name not in runs[0] or name not in runs[1]:
                continue
            r, t = np.asarray(runs[0][name]), np.asarray(runs[1][name])
            if not np.issubdtype(r.dtype, np.floating):
                continue
            compared += 1
            bad = [i for i, v in enumerate((r, t)) if not np.isfinite(v).all()]
            if bad and first_nonfinite is None:
                first_nonfinite = _where(g, node, position, name, runs[bad[0]], feeds[bad[0]], bad[0])
                first_nonfinite["nonfinite_in"] = bad
            if first_mismatch is None and not bad:
                t2 = _cut(t, r.shape) if cut else t
                if t2 is None or t2.shape != r.shape:
                    continue
                excess = np.abs(t2.astype(np.float64) - r) - (tol.atol + tol.rtol * np.abs(r))
                if (excess > 0).any():
                    first_mismatch = _where(g, node, position, name, runs[1], feeds[1], 1)
                    first_mismatch["max_abs"] = float(np.max(np.abs(t2.astype(np.float64) - r)))
        if first_nonfinite is not None and first_mismatch is not None:
            break
    found = [f for f in (first_nonfinite, first_mismatch) if f is not None]
    first = min(found, key=lambda f: f["position"]) if found else None
    if first is not None:
        first["why"] = "turns NaN/Inf" if first is first_nonfinite else "leaves the tolerance"
    return {
        "nodes": len(order),
        "tensors_compared": compared,
        "first": first,
        "first_nonfinite": first_nonfinite,
        "first_mismatch": first_mismatch,
        "verdict": "ok" if first is None else f"{node_label_of(first)} {first['why']}",
    }


def node_label_of(found: Mapping[str, Any]) -> str:
    """``name (OpType)`` of a located node."""
    return f"{found['node']} ({found['op']})"


def _cut(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    if x.ndim != len(shape) or any(a < b for a, b in zip(x.shape, shape, strict=True)):
        return None
    return x[tuple(slice(0, s) for s in shape)]


def _where(
    g: Any,
    node: Any,
    position: int,
    output: str,
    run: Mapping[str, np.ndarray],
    feed: Mapping[str, np.ndarray],
    which: int,
) -> dict[str, Any]:
    from hepinfer.convert.onnx_graph import node_label

    ranges = {}
    for name in node.input:
        if not name:
            continue
        value = run.get(name, feed.get(name))
        if value is None:
            value = g.constant(name)
        ranges[name] = _range(value)
    out = np.asarray(run[output])
    return {
        "node": node_label(node),
        "op": node.op_type,
        "position": position,
        "output": output,
        "run": which,
        "output_range": _range(out),
        "input_ranges": ranges,
        "path": g.path_from_inputs(node),
    }


def _range(value: np.ndarray | None) -> dict[str, Any]:
    if value is None:
        return {"known": False}
    v = np.asarray(value)
    if v.size == 0:
        return {"size": 0}
    if not np.issubdtype(v.dtype, np.number):
        return {"dtype": str(v.dtype), "size": int(v.size)}
    finite = v[np.isfinite(v)] if np.issubdtype(v.dtype, np.floating) else v
    return {
        "dtype": str(v.dtype),
        "shape": list(v.shape),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "zeros": int((v == 0).sum()),
        "nan": int(np.isnan(v).sum()) if np.issubdtype(v.dtype, np.floating) else 0,
        "inf": int(np.isinf(v).sum()) if np.issubdtype(v.dtype, np.floating) else 0,
    }
