"""``hepinfer.Session``: one loaded model for analysis code, the configuration ``tune`` chose.

This is analysis code, not a measurement: the backend is loaded in this process (no worker).
A backend that may be shared (``Backend.shareable``) is loaded once and called from any
number of threads, each call with its own prepared inputs; any other is loaded into a small
pool, and a call borrows one instance for its duration.

Inputs are numpy arrays (used as they are, cast to the model's dtype if they are not) or
awkward arrays of variable-length particle lists, padded the way hepinfer's input builders
pad them (``hepinfer.data.builders``): the leading entries kept, zeros after, truncated at the
model's size. An awkward input is ``[jets, var particles]`` or ``[jets, var particles, F]``
(particle-major; moved to where the model has its particle axis, e.g. ``[B, F, n_pf]``), or
the same with an outer event axis, ``[events, var jets, var particles(, F)]``: then every jet
of the chunk is run (in calls of at most ``batch`` rows) and the outputs come back as awkward
arrays ``[events, var jets, ...]``. A mask input (role "mask") that is not given is made from
the particle counts of the inputs that share its axis.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import BackendUnavailable, ConfigurationError, ModelInputError
from hepinfer.zoo import ModelSpec, TensorSpec, model_ref, spec_of
from hepinfer.zoo.spec import BATCH

__all__ = ["Session", "model_inputs"]

_ndarray = np.ndarray


def _is_awkward(value: Any) -> bool:
    return type(value).__module__.partition(".")[0] == "awkward"


def _particle_axis(t: TensorSpec) -> int:
    """Index (without the batch) of the axis a particle list fills: its dynamic axis, else the
    first (``jet_vae`` [B, 100, 3], ``deepjet`` [B, 25, 16])."""
    rest = [d for d in t.shape if d != BATCH]
    for i, d in enumerate(rest):
        if isinstance(d, str):
            return i
    return 0


def _var_axes(value: Any) -> int:
    import awkward as ak

    return str(ak.type(value)).count("var")


def _pad_lists(value: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, var, *F] -> ([n, size, *F] zero-padded, counts), on the flat content (a scatter).

    The same scatter as ``hepinfer.data.builders``: the leading ``size`` entries of each list.
    """
    import awkward as ak

    counts = ak.to_numpy(ak.num(value, axis=1)).astype(np.int64)
    flat_ak = ak.flatten(value, axis=1)
    if flat_ak.ndim > 1 and "var" in str(ak.type(flat_ak)):
        flat_ak = ak.to_regular(flat_ak, axis=1)
    flat = np.asarray(ak.to_numpy(flat_ak))
    out = np.zeros((len(counts), size, *flat.shape[1:]), flat.dtype if flat.size else np.float32)
    if len(flat):
        rows = np.repeat(np.arange(len(counts)), counts)
        local = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = local < size
        out[rows[keep], local[keep]] = flat[keep]
    return out, np.minimum(counts, size)


def _to_model_layout(padded: np.ndarray, t: TensorSpec, shape: tuple[int, ...], name: str) -> np.ndarray:
    """[n, P, *F] into the model's [n, *shape]: the particle axis moved where the model has it."""
    n = padded.shape[0]
    if padded.shape[1:] == shape:
        return padded
    moved = np.moveaxis(padded, 1, 1 + _particle_axis(t)) if padded.ndim == len(shape) + 1 else padded
    if moved.shape[1:] == shape:
        return moved
    if moved.size == n * int(np.prod(shape)):  # [n, P] for [n, 1, P]
        return moved.reshape((n, *shape))
    raise ModelInputError(
        f"input {name}: padded lists have shape {list(padded.shape)}, the model takes "
        f"{t.describe()} = {[n, *shape]}; give [jets, var particles, features]"
    )


def model_inputs(
    spec: ModelSpec, dims: Mapping[str, int], inputs: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The numpy arrays the model takes, and the jets per event when inputs had an event axis."""
    unknown = sorted(set(inputs) - {t.name for t in spec.inputs})
    if unknown:
        raise ModelInputError(
            f"input {unknown[0]}: the model has no such input ({[t.name for t in spec.inputs]})"
        )
    feeds: dict[str, np.ndarray] = {}
    events: np.ndarray | None = None
    counts: dict[Any, np.ndarray] = {}  # particle axis symbol (or None) -> counts per row
    for t in spec.inputs:
        if t.name not in inputs:
            continue
        value = inputs[t.name]
        rank = len(t.shape)
        if not _is_awkward(value):
            arr = np.asarray(value)
            feeds[t.name] = np.ascontiguousarray(arr, dtype=t.dtype)
            continue
        import awkward as ak

        if value.ndim > rank or _var_axes(value) >= 2:  # an event axis outside the jets
            per_event = ak.to_numpy(ak.num(value, axis=1)).astype(np.int64)
            if events is not None and not np.array_equal(events, per_event):
                raise ModelInputError(f"input {t.name}: its jets per event differ from another input's")
            events = per_event
            value = ak.flatten(value, axis=1)
        shape = t.concrete(0, dims)[1:]
        if _var_axes(value):
            size = shape[_particle_axis(t)]
            padded, n = _pad_lists(value, size)
            sym = next((d for d in t.shape if isinstance(d, str) and d != BATCH), None)
            counts[sym] = n
            arr = _to_model_layout(padded, t, shape, t.name)
        else:
            arr = np.asarray(ak.to_numpy(value))
        feeds[t.name] = np.ascontiguousarray(arr, dtype=t.dtype)
    for t in spec.inputs:
        if t.name in feeds:
            continue
        sym = next((d for d in t.shape if isinstance(d, str) and d != BATCH), None)
        found = (
            counts.get(sym) if sym in counts else (next(iter(counts.values())) if len(counts) == 1 else None)
        )
        if t.role != "mask" or found is None:
            raise ModelInputError(
                f"input {t.name} ({t.describe()}) is missing; give it"
                + (
                    " (a mask is made only from jagged inputs that share its axis)"
                    if t.role == "mask"
                    else ""
                )
            )
        shape = t.concrete(0, dims)[1:]
        size = shape[_particle_axis(t)]
        mask = (np.arange(size)[None, :] < found[:, None]).astype(t.dtype)
        feeds[t.name] = np.ascontiguousarray(_to_model_layout(mask, t, shape, t.name))
    return feeds, events


class Session:
    """A loaded model to call from analysis code: ``Session(model, backend=...)(inputs)``.

    ``batch``: the most rows one backend call takes (None: all rows in one call); a backend
    that builds code per input shape (SOFIE) is built for that batch, and a last, shorter
    chunk is zero-padded to it. ``pool``: instances of a backend that is not shareable.
    """

    def __init__(
        self,
        model: str,
        backend: str = "onnxruntime",
        options: Mapping[str, Any] | None = None,
        threads: int = 1,
        batch: int | None = None,
        dims: Mapping[str, int] | None = None,
        params: Mapping[str, Any] | None = None,
        exporter: str = "dynamo",
        device: str = "cpu",
        pool: int = 4,
    ) -> None:
        from hepinfer.backends.base import Backend, ModelArtifact
        from hepinfer.backends.registry import backend_class

        self.ref = model_ref(str(model), params)
        self.spec = spec_of(self.ref)
        self.dims = self.spec.resolve_dims(dict(dims or {}))
        if batch is not None:
            self.spec.check_batch(batch)
        if pool < 1:
            raise ConfigurationError(f"pool={pool}: a session needs at least one backend instance")
        self.cls = backend_class(backend)
        reason = self.cls.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(f"backend {backend} is unavailable: {reason}")
        self.options = self.cls.Options.from_strings(
            backend, {k: str(v) for k, v in (options or {}).items()}, threads=threads, device=device
        )
        self.batch = batch
        self.artifact = ModelArtifact(ref=self.ref, spec=self.spec, exporter=exporter)
        builds = getattr(self.cls.prebuild, "__func__", None) is not getattr(
            Backend.prebuild, "__func__", None
        )
        self.fixed_shape = batch is not None and (
            builds or bool(getattr(self.options, "static_shapes", False))
        )
        if builds and batch is not None:
            self.cls.prebuild(self.artifact, self.options, self.spec.shapes(batch, self.dims))
        self.shared = self.cls.shareable
        self._size = 1 if self.shared else pool
        self._idle: queue.Queue[Any] = queue.Queue()
        self._made = 0
        self._lock = threading.Lock()
        self._first = self._new()
        self._idle.put(self._first)
        # The fast path: numpy inputs by exactly these names and dtypes go to the backend as
        # they are; and a backend without an inference scope of its own enters none.
        self._dtypes = {t.name: np.dtype(t.dtype) for t in self.spec.inputs}
        self._scoped = type(self._first).inference_scope is not Backend.inference_scope
        # Bound once: on the fast path a call is this check and ``Backend.call``, no more
        # frames (each Python call or attribute lookup is ~0.1 us, 0.5% of a 20 us call).
        self._n_inputs = len(self._dtypes)
        self._specs = tuple(self._dtypes.items())
        self._direct = self._first.caller() if self.shared and not self._scoped else None

    @classmethod
    def from_config(cls, path: str | Path, pool: int = 4) -> Session:
        """The configuration a ``hepinfer tune`` deploy document names."""
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigurationError(f"cannot read deploy document {path}: {err}") from None
        if not isinstance(doc, dict) or "hepinfer_deploy" not in doc:
            raise ConfigurationError(f"{path} is not a deploy document written by 'hepinfer tune'")
        m = doc["model"]
        return cls(
            m["name"],
            backend=doc["backend"],
            options=doc["options"],
            threads=doc["threads"],
            batch=doc["batch"],
            dims=m.get("dims"),
            params=m.get("params") if m.get("kind") == "zoo" else None,
            exporter=m.get("exporter", "dynamo"),
            device=doc.get("device", "cpu"),
            pool=pool,
        )

    def _new(self) -> Any:
        backend = self.cls()
        backend.load(self.artifact, self.options)
        self._made += 1
        return backend

    def _borrow(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._made < self._size:
                return self._new()
        return self._idle.get()

    def _call(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One backend call (``Backend.call``: prepare, run, fetch) on a shared or borrowed
        instance; ``feeds`` are the model's inputs, C-contiguous, in its dtypes."""
        if self.shared and not self._scoped:
            out: dict[str, np.ndarray] = self._first.call(feeds)
            return out
        if self.shared:
            backend = self._first
            with backend.inference_scope():
                out = backend.call(feeds)
            return out
        backend = self._borrow()
        try:
            with backend.inference_scope():
                out = backend.call(feeds)
            return out
        finally:
            self._idle.put(backend)

    def _ready(self, inputs: Mapping[str, Any]) -> bool:
        """Whether the inputs go to the backend as they are: numpy arrays by exactly the
        model's input names, in its dtypes, C-contiguous (one pass, no allocation)."""
        dtypes = self._dtypes
        if len(inputs) != len(dtypes):
            return False
        for k, v in inputs.items():
            if type(v) is not np.ndarray or v.dtype != dtypes.get(k) or not v.flags.c_contiguous:
                return False
        return True

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Outputs by name for numpy or awkward inputs (awkward [events, var jets] back when
        the inputs had an event axis)."""
        direct = self._direct
        if direct is not None and len(inputs) == self._n_inputs:
            # ``_ready`` inlined for the common case: a builtin dtype is one object, so ``is``
            # decides it; any other array (an equal dtype that is another object included) takes
            # the general path below, which compares with ``!=``.
            for name, dtype in self._specs:  # a tuple and .get: 0.4 us less than .items()
                v = inputs.get(name)
                if type(v) is not _ndarray or v.dtype is not dtype or not v.flags.c_contiguous:
                    break
            else:
                if self.batch is None or self._fits(inputs):
                    out: dict[str, Any] = direct(inputs)
                    return out
        return self._run(inputs)

    __call__ = run

    def _fits(self, inputs: Mapping[str, np.ndarray]) -> bool:
        """Ready inputs that go to the backend in one call as they are: one row count, within
        ``batch`` (equal to it where the backend was built for that shape)."""
        rows = {v.shape[0] for v in inputs.values()}
        if len(rows) != 1:
            return False
        n = rows.pop()
        return n == self.batch if self.fixed_shape else n <= self.batch

    def _run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        if self._ready(inputs):
            if self.batch is None:  # numpy in the model's dtypes, one call: nothing to do here
                return self._call(inputs)
            feeds, events = dict(inputs), None
        else:
            feeds, events = model_inputs(self.spec, self.dims, inputs)
        rows = {a.shape[0] for a in feeds.values()}
        if len(rows) != 1:
            raise ModelInputError(f"inputs have different numbers of rows: {sorted(rows)}")
        n = rows.pop()
        step = self.batch or n
        if n <= step and not (self.fixed_shape and n != step):
            out = self._call(feeds)
        else:
            parts = [self._call(self._chunk(feeds, i, step)) for i in range(0, n, step)]
            out = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
        if events is None:
            return out
        import awkward as ak

        return {k: ak.unflatten(v, events) for k, v in out.items()}

    def _chunk(self, feeds: Mapping[str, np.ndarray], start: int, step: int) -> dict[str, np.ndarray]:
        part = {k: v[start : start + step] for k, v in feeds.items()}
        short = step - next(iter(part.values())).shape[0]
        if self.fixed_shape and short > 0:  # the shape the backend was built for
            part = {k: np.concatenate([v, np.zeros((short, *v.shape[1:]), v.dtype)]) for k, v in part.items()}
        return part

    @property
    def instances(self) -> int:
        """Backend instances loaded so far (1 when shared)."""
        return self._made
