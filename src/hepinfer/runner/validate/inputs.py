"""Input sets that find bugs (padded, single-particle, odd batches), and the worker side that
pushes them through a loaded backend."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepinfer.errors import first_line
from hepinfer.measure import physics
from hepinfer.runner.validate.request import InputSet, ValidateRequest
from hepinfer.zoo import ModelRef, ModelSpec, TensorSpec, build_inputs


def run_input_files(backend: Any, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Worker side: each input set through the loaded backend, outputs saved per set.

    An entry names its ``inputs`` and ``outputs`` .npz, and optionally ``chunk`` (events per
    call) with the batch axis of each input (``axes``) and output (``out_axes``). A failure on
    one set is recorded and the next set still runs; each set's outputs are on disk as soon as
    it has run, so a worker that crashes later still leaves them.
    """
    results = []
    for e in entries:
        try:
            with np.load(e["inputs"]) as f:
                inputs = {k: f[k] for k in f.files}
            outputs = _run_chunks(backend, inputs, e.get("chunk"), e.get("axes", {}), e.get("out_axes", {}))
            # Written whole, then renamed: a worker that dies on a later set leaves the sets
            # before it readable (the parent keeps them) and never a torn file.
            part = f"{e['outputs']}.part"
            with open(part, "wb") as f:
                np.savez(f, **outputs)  # type: ignore[arg-type]
            os.replace(part, e["outputs"])
            results.append({"name": e["name"], "status": "ok"})
        except Exception as err:
            first = first_line(err)
            results.append(
                {"name": e["name"], "status": "error", "message": f"{type(err).__name__}: {first}"}
            )
    return results


def _run_chunks(
    backend: Any,
    inputs: dict[str, np.ndarray],
    chunk: int | None,
    axes: Mapping[str, int | None],
    out_axes: Mapping[str, int | None],
) -> dict[str, np.ndarray]:
    n = _events(inputs, axes)
    step = chunk or n or 1
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(n, 1), step):
        part = {k: _take(v, axes.get(k, 0), start, start + step) for k, v in inputs.items()}
        prepared = backend.prepare(part)
        raw = backend.run(prepared)
        backend.synchronize()
        parts.append(backend.fetch(prepared, raw))
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts], axis=out_axes.get(k, 0) or 0) for k in parts[0]}


def _events(inputs: Mapping[str, np.ndarray], axes: Mapping[str, int | None]) -> int:
    for k, v in inputs.items():
        axis = axes.get(k, 0)
        if axis is not None:
            return int(v.shape[axis])
    return 1


def _take(x: np.ndarray, axis: int | None, start: int, stop: int) -> np.ndarray:
    if axis is None:
        return x
    return np.ascontiguousarray(np.take(x, np.arange(start, min(stop, x.shape[axis])), axis=axis))


# --- input sets ----------------------------------------------------------------------------------


def event_axis(spec: ModelSpec, t: TensorSpec) -> int | None:
    """The axis indexing events: the batch axis, or axis 0 of a model whose file fixes the
    batch size (rootbench's B1 files: [1, 100] is one event); None for a rank-1 tensor."""
    if t.batch_axis is not None:
        return t.batch_axis
    if spec.fixed_batch is not None and len(t.shape) >= 2:
        return 0
    return None


def event_axes(spec: ModelSpec, tensors: Sequence[TensorSpec]) -> dict[str, int | None]:
    """event_axis of each tensor, by name."""
    return {t.name: event_axis(spec, t) for t in tensors}


def padded_axis(spec: ModelSpec, name: str) -> int | None:
    """The particle axis of an input: where padding lives.

    A mask's padded axis is its last non-unit one; a features input that shares that symbol
    is padded along it. Without a mask, a features input of rank >= 3 is padded along its
    longest non-batch axis (event_vae's object rows, DeepJet's 25 candidates); rank 2 inputs
    are global features and are not padded.
    """
    t = next(t for t in spec.inputs if t.name == name)
    masks = [m for m in spec.inputs if m.role == "mask"]
    if t.role == "mask":
        for axis in range(len(t.shape) - 1, 0, -1):
            if t.shape[axis] != 1:
                return axis
        return None
    if t.role != "features":
        return None
    symbols = set()
    for m in masks:
        m_axis = padded_axis(spec, m.name)
        if m_axis is not None and isinstance(m.shape[m_axis], str):
            symbols.add(m.shape[m_axis])
    ev = event_axis(spec, t)
    for axis, d in enumerate(t.shape):
        if d in symbols and axis != ev:
            return axis
    if masks or len(t.shape) < 3:
        return None
    sizes = [(d if isinstance(d, int) else 0, axis) for axis, d in enumerate(t.shape) if axis != ev]
    # The longest axis, the first one on a tie; symbols without a size lose to fixed sizes.
    best = max(sizes, key=lambda s: (s[0], -s[1]))
    return best[1] if best[0] > 1 else None


def pad_events(spec: ModelSpec, inputs: Mapping[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    """Keep only the first ``keep[i]`` particles of event i: masks 0 and features 0 beyond."""
    out = {}
    for t in spec.inputs:
        x = np.array(inputs[t.name], copy=True)
        axis = padded_axis(spec, t.name)
        if axis is not None and event_axis(spec, t) == 0:
            idx = np.arange(x.shape[axis])
            pad = idx[None, :] >= keep[:, None]  # [batch, particles]
            view = np.moveaxis(x, axis, 1)
            view[pad] = 0
        out[t.name] = x
    return out


def _slice(spec: ModelSpec, inputs: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    axes = event_axes(spec, spec.inputs)
    return {k: _take(v, axes[k], start, stop) for k, v in inputs.items()}


def input_sets(
    request: ValidateRequest, ref: ModelRef, spec: ModelSpec, dims: Mapping[str, int]
) -> list[InputSet]:
    """Every input set the request's checks need, seeded."""
    checks = set(request.checks)
    sets: list[InputSet] = []
    fixed = spec.fixed_batch
    if fixed is not None or not spec.has_batch_axis:
        b = fixed or 1
        realistic = build_inputs(ref, spec, b, dims, request.seed)
        sets.append(InputSet("realistic", realistic))
        few = build_inputs(ref, spec, b, dims, request.seed + 1)
        sets.append(InputSet("padded", pad_events(spec, few, np.arange(b) % 3 + 1)))
        sets.append(InputSet("single", pad_events(spec, few, np.ones(b, np.int64))))
    else:
        big = max(request.batch_sizes) if request.batch_sizes else 64
        realistic = build_inputs(ref, spec, big, dims, request.seed)
        sets.append(InputSet("realistic", realistic))
        few = build_inputs(ref, spec, request.padded_events, dims, request.seed + 1)
        n = request.padded_events
        sets.append(InputSet("padded", pad_events(spec, few, np.arange(n) % 3 + 1)))
        sets.append(InputSet("single", pad_events(spec, few, np.ones(n, np.int64))))
        sets.append(InputSet("batch1", _slice(spec, realistic, 0, 1)))
        sets.append(InputSet(f"batch{request.odd_batch}", _slice(spec, realistic, 0, request.odd_batch)))
        if "batch" in checks:
            for b in request.batch_sizes:
                if b != big:
                    sets.append(InputSet(f"batch{b}", _slice(spec, realistic, 0, b)))
            for i in request.alone:
                if i < big:
                    sets.append(InputSet(f"alone{i}", _slice(spec, realistic, i, i + 1)))
    if "physics" in checks and all(v is not None for v in event_axes(spec, spec.inputs).values()):
        half = max(1, request.physics_events // 2)
        chunk = fixed or min(request.physics_chunk, half)
        background = (
            build_inputs(ref, spec, half, dims, request.seed + 2)
            if fixed is None
            else _stack(
                [build_inputs(ref, spec, fixed, dims, request.seed + 2 + i) for i in range(half // fixed)]
            )
        )
        sets.append(InputSet("background", background, chunk))
        sets.append(InputSet("signal", physics.signal_like(spec, background), chunk))
    return sets


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
