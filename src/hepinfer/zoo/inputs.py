"""Seeded input builders: the same seed gives the same inputs in every process and backend.

The generic builder fills features with unit-normal noise, but never masks: an input whose
role is "mask" gets a realistic number of real entries (1) followed by padding (0), and every
other input that shares the mask's dynamic axis is zeroed on the padding, as real padded
particle lists are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from hepinfer.zoo.spec import ModelSpec

InputBuilder = Callable[
    [ModelSpec, int, Mapping[str, int], np.random.Generator], dict[str, np.ndarray]
]


def multiplicity(rng: np.random.Generator, batch: int, capacity: int) -> np.ndarray:
    """Number of real entries per event: a wide, skewed distribution within [1, capacity].

    Real jets have from a handful to ~100 constituents; a gamma distribution with mean at about
    40% of the capacity, clipped to [1, capacity], reproduces that shape (and yields both
    nearly empty and full events at a batch of a few dozen).
    """
    mean = max(1.0, 0.4 * capacity)
    n = rng.gamma(shape=2.0, scale=mean / 2.0, size=batch)
    return np.clip(np.rint(n), 1, capacity).astype(np.int64)


def generic_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Noise for features, realistic padding for masks, zeros on the padding."""
    shapes = spec.shapes(batch, dims)
    out: dict[str, np.ndarray] = {}
    # Real-entry counts per padded axis (symbol or size), shared by all inputs on that axis.
    counts: dict[object, np.ndarray] = {}
    for t in spec.inputs:
        shape = shapes[t.name]
        if t.role == "mask":
            axis = _padded_axis(t.shape)
            cap = shape[axis]
            n = multiplicity(rng, shape[0] if t.batch_axis == 0 else 1, cap)
            counts[t.shape[axis]] = n
            idx = np.arange(cap).reshape([-1 if a == axis else 1 for a in range(len(shape))][1:])
            mask = (idx[None, ...] < n.reshape((-1,) + (1,) * (len(shape) - 1))).astype(t.dtype)
            out[t.name] = np.ascontiguousarray(np.broadcast_to(mask, shape))
        elif t.role == "index":
            out[t.name] = np.zeros(shape, dtype=t.dtype)
        else:
            out[t.name] = rng.standard_normal(shape).astype(t.dtype)
    for t in spec.inputs:
        if t.role == "mask":
            continue
        for axis, d in enumerate(t.shape):
            if isinstance(d, str) and d in counts and t.batch_axis == 0:
                n = counts[d]
                idx = np.arange(shapes[t.name][axis])
                pad = idx[None, :] >= n[:, None]  # [batch, axis]
                view = np.moveaxis(out[t.name], axis, 1)
                view[pad] = 0
    return out


def _padded_axis(shape: tuple[object, ...]) -> int:
    """The axis of a mask along which entries are real or padding: the last non-unit one."""
    for axis in range(len(shape) - 1, 0, -1):
        if shape[axis] != 1:
            return axis
    return len(shape) - 1
