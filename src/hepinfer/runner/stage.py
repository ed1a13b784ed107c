"""What the parent does before a measured worker starts: conversion and model analysis.

The measured process should hold the backend's framework and nothing else (STYLE.md, "the
measured process"). So the parent exports a zoo model to ONNX (importing torch or Keras here,
never in an ONNX Runtime worker), and analyses the graph (cost, theoretical minimum), once per
(model, exporter, batch, dims), timing each step as a one-off cost of its own. The worker then
receives the file's path and the spec, and only loads and measures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.backends.base import Backend
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.results.schema import Key
from hepinfer.zoo import ModelRef, ModelSpec


def needs_onnx(cls: type[Backend], artifact: ModelArtifact) -> bool:
    """Whether the backend reads the ONNX file (``ModelArtifact.needs_onnx``)."""
    return artifact.needs_onnx(cls.formats)


@dataclass(frozen=True)
class Staged:
    """A configuration's model made ready in the parent: the file a worker loads, and analysis."""

    # The ONNX file the worker loads; None where the backend takes the zoo model natively.
    onnx_path: str | None
    # How each file was made (torch_to_onnx, keras_to_onnx, ...): one-off costs of their own.
    conversions: dict[str, Any] = field(default_factory=dict)
    # Parameters, weight bytes and MACs of the graph; the graph-level memory minimum.
    cost: dict[str, Any] | None = None
    minimum: dict[str, Any] | None = None
    # Seconds the parent spent on the cost and the minimum (not part of any measured figure).
    analysis_s: float = 0.0
    # The seeded inputs the worker loads (an .npz): built here, so that the measured process
    # imports no zoo catalog or input builder. None: the worker builds them (and reports why not).
    inputs_path: str | None = None


class Stager:
    """Converts and analyses a model in the parent, each step once per run and cached.

    Exports are also cached on disk (``hepinfer.cache``), so a second run pays nothing; the
    one-off cost recorded is the one of this run (``cached: true`` when it was a cache hit).
    """

    def __init__(self, ref: ModelRef, spec: ModelSpec) -> None:
        self.ref = ref
        self.spec = spec
        self._onnx: dict[str, tuple[Path, dict[str, Any]]] = {}
        self._analysis: dict[tuple[str, int, str, int], tuple[dict[str, Any], dict[str, Any], float]] = {}
        # (batch, dims, seed) -> the inputs file and its shapes (None: the builder failed).
        self._inputs: dict[tuple[int, str, int], tuple[str, dict[str, tuple[int, ...]]] | None] = {}

    def onnx(self, exporter: str) -> tuple[Path, dict[str, Any]]:
        """The ONNX file of the model (the user's file, or the zoo model exported) and its costs."""
        if exporter not in self._onnx:
            artifact = ModelArtifact(ref=self.ref, spec=self.spec, exporter=exporter)
            path = artifact.onnx_path()
            self._onnx[exporter] = (path, dict(artifact.conversions))
        return self._onnx[exporter]

    def stage(self, key: Key, cls: type[Backend], analyse: bool = True) -> Staged:
        """Everything a worker for ``key`` needs from the parent (raises on a failed export)."""
        artifact = ModelArtifact(ref=self.ref, spec=self.spec, exporter=key.exporter)
        onnx_path: str | None = None
        conversions: dict[str, Any] = {}
        if needs_onnx(cls, artifact):
            path, conversions = self.onnx(key.exporter)
            onnx_path = str(path)
            conversions = self._prebuild(cls, key, path, conversions)
        elif "onnx" not in cls.formats:
            # A backend that builds from the framework model (hls4ml from the Keras twin).
            conversions = self._prebuild(cls, key, None, conversions)
        built = self._built_inputs(key)
        inputs_path = built[0] if built is not None else None
        if not analyse:
            return Staged(onnx_path=onnx_path, conversions=conversions, inputs_path=inputs_path)
        cost, minimum, seconds = self._analyse(key)
        return Staged(
            onnx_path, conversions, cost=cost, minimum=minimum, analysis_s=seconds, inputs_path=inputs_path
        )

    def _prebuild(
        self, cls: type[Backend], key: Key, path: Path | None, conversions: dict[str, Any]
    ) -> dict[str, Any]:
        """The backend's own build for this configuration (SOFIE's library), made here."""
        if getattr(cls.prebuild, "__func__", None) is getattr(Backend.prebuild, "__func__", None):
            return conversions  # the backend builds nothing in the parent
        options = cls.Options.from_values(cls.name, key.options, threads=key.threads, device=key.device)
        artifact = ModelArtifact(
            ref=self.ref, spec=self.spec, exporter=key.exporter, conversions=dict(conversions), _onnx=path
        )
        cls.prebuild(artifact, options, self.spec.shapes(key.batch, key.dims))
        return artifact.conversions

    def _analyse(self, key: Key) -> tuple[dict[str, Any], dict[str, Any], float]:
        import json

        from hepinfer.convert.analysis import analyse

        slot = (key.exporter, key.batch, json.dumps(key.dims, sort_keys=True), key.seed)
        if slot not in self._analysis:
            t0 = time.perf_counter()
            try:
                path, _ = self.onnx(key.exporter)
            except Exception as err:  # the annotation cannot be had; the measurement still can
                from hepinfer.errors import first_line

                failed = {"error": f"{type(err).__name__}: {first_line(err)}"}
                self._analysis[slot] = (failed, failed, time.perf_counter() - t0)
                return self._analysis[slot]
            cost, minimum = analyse(path, key.batch, key.dims, self.spec, self._input_shapes(key))
            self._analysis[slot] = (cost, minimum, time.perf_counter() - t0)
        return self._analysis[slot]

    def inputs_file(self, key: Key) -> str | None:
        """The .npz of the key's seeded inputs (written once per run), or None where the
        builder fails: the worker then builds them itself and reports the builder's error."""
        built = self._built_inputs(key)
        return built[0] if built is not None else None

    def _input_shapes(self, key: Key) -> dict[str, tuple[int, ...]] | None:
        """The shapes of the inputs the worker loads: a builder may decide a size itself
        (gnn_tau flat: the nodes of the batch's events)."""
        built = self._built_inputs(key)
        return built[1] if built is not None else None

    def _built_inputs(self, key: Key) -> tuple[str, dict[str, tuple[int, ...]]] | None:
        """The seeded inputs for the key's batch, dims and seed, written once per run to an
        .npz the worker loads (bitwise what ``build_inputs`` gives there); None where the
        builder fails (the worker then builds them itself and reports its builder's error)."""
        import json

        slot = (key.batch, json.dumps(key.dims, sort_keys=True), key.seed)
        if slot not in self._inputs:
            import numpy as np

            from hepinfer.zoo import build_inputs

            try:
                built = build_inputs(self.ref, self.spec, key.batch, key.dims, key.seed)
            except Exception:
                self._inputs[slot] = None
                return None
            import os
            import tempfile

            fd, name = tempfile.mkstemp(prefix="inputs-", suffix=".npz", dir=inputs_dir())
            with os.fdopen(fd, "wb") as f:  # a name of its own, whichever thread stages
                np.savez(f, **built)  # type: ignore[arg-type]
            path = Path(name)
            self._inputs[slot] = (str(path), {k: tuple(v.shape) for k, v in built.items()})
        return self._inputs[slot]


_STAGERS: dict[ModelRef, Stager] = {}
_INPUTS_DIR: list[Path] = []
_INPUTS_LOCK = threading.Lock()


def inputs_dir() -> Path:
    """This process's folder of staged inputs, removed when it exits."""
    with _INPUTS_LOCK:
        if not _INPUTS_DIR:
            import atexit
            import shutil
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="hepinfer-inputs-"))
            atexit.register(shutil.rmtree, folder, True)
            _INPUTS_DIR.append(folder)
        return _INPUTS_DIR[0]


def stager_for(ref: ModelRef, spec: ModelSpec) -> Stager:
    """The run-wide Stager of a model (one per model in this process)."""
    if ref not in _STAGERS:
        _STAGERS[ref] = Stager(ref, spec)
    return _STAGERS[ref]


def job_fields(spec: ModelSpec, staged: Staged) -> dict[str, Any]:
    """What a worker's job carries from the stage: the spec and the file to load."""
    from hepinfer.zoo.spec import spec_to_dict

    return {
        "spec": spec_to_dict(spec),
        "onnx_path": staged.onnx_path,
        "conversions": staged.conversions,
        "inputs_path": staged.inputs_path,
    }


def interpreter_for(key: Key, ref: ModelRef, spec: ModelSpec, fields: dict[str, Any]) -> str | None:
    """The Python the worker for ``key`` runs under (``Backend.interpreter``; None: this one)."""
    return backend_interpreter(key.backend, ref, spec, fields, key.exporter)


def backend_interpreter(
    backend: str, ref: ModelRef, spec: ModelSpec, fields: dict[str, Any], exporter: str = "dynamo"
) -> str | None:
    """``interpreter_for`` by the backend's name, for callers that hold no Key (eventloop)."""
    from hepinfer.backends.registry import backend_class

    if not fields:  # a failed stage: no worker runs
        return None
    artifact = ModelArtifact.staged(ref, spec, exporter, fields)
    return backend_class(backend).interpreter(artifact)


def stage_job(
    ref: ModelRef, spec: ModelSpec, key: Key, analyse: bool = False
) -> tuple[dict[str, Any], Staged | None, dict[str, Any] | None]:
    """The job fields for ``key``, its Staged, and None; or an error result if staging failed.

    A failed conversion costs its configuration only, as a crash in a worker would: the
    caller records the error result and goes on. An unavailable backend is not staged (its
    worker says why it cannot run, without the parent exporting anything for it).
    """
    import traceback

    from hepinfer.backends.registry import backend_class
    from hepinfer.errors import HepinferError, first_line

    cls = backend_class(key.backend)
    if cls.unavailable_reason() is not None:
        return job_fields(spec, Staged(onnx_path=None)), None, None
    try:
        staged = stager_for(ref, spec).stage(key, cls, analyse)
    except Exception as err:
        message = str(err) if isinstance(err, HepinferError) else f"{type(err).__name__}: {first_line(err)}"
        error = {
            "type": type(err).__name__,
            "message": message.strip().splitlines()[0] if message.strip() else type(err).__name__,
            "phase": "convert",
            "traceback": traceback.format_exc(),
        }
        return {}, None, {"status": "error", "error": error}
    return job_fields(spec, staged), staged, None
