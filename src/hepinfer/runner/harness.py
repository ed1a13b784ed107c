"""The measured process's preamble, one copy for every worker (bench, memory, event loop,
LoadGen, validate): import the backend's framework, open the model the parent staged, load,
and make the first (cold) call.

The parent has already converted and analysed the model (``runner.stage``); the job carries
the ONNX file's path and the spec, so nothing here imports another framework or parses the
model file. What each worker does after the preamble (timing, threads, input sets) is its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from hepinfer.backends.base import Backend, BackendOptions
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.errors import BackendUnavailable, ModelInputError, first_line
from hepinfer.zoo import ModelRef, ModelSpec


def import_backend(name: str, one_off: dict[str, Any]) -> type[Backend]:
    """The backend's class with its framework imported (the import time goes to ``one_off``)."""
    from hepinfer.backends.registry import backend_class

    cls = backend_class(name)
    reason = cls.unavailable_reason()
    if reason is not None:
        raise BackendUnavailable(f"backend {cls.name} is unavailable: {reason}")
    t0 = time.perf_counter()
    for pkg in cls.runtime_packages if cls.runtime_packages is not None else cls.packages:
        __import__(pkg)
    one_off["import_s"] = time.perf_counter() - t0
    return cls


def model_of(job: Mapping[str, Any]) -> tuple[ModelRef, ModelSpec, ModelArtifact]:
    """The model as the parent staged it: reference, spec, and an artifact that converts nothing.

    A job without a staged spec (written by an older parent) falls back to reading the model.
    """
    from hepinfer.zoo.spec import spec_from_dict

    ref = ModelRef.from_dict(job["model_ref"])
    if job.get("spec") is not None:
        spec = spec_from_dict(job["spec"])
    else:
        from hepinfer.zoo import spec_of

        spec = spec_of(ref)
    exporter = job.get("exporter") or job.get("key", {}).get("exporter", "dynamo")
    artifact = ModelArtifact.staged(ref, spec, exporter, job)
    return ref, spec, artifact


def options_of(
    cls: type[Backend], values: Mapping[str, Any], threads: int, device: str = "cpu"
) -> BackendOptions:
    """The backend's typed options from the job's values (typed in the key, kept typed)."""
    return cls.Options.from_values(cls.name, values, threads=threads, device=device)


def load(cls: type[Backend], artifact: ModelArtifact, options: BackendOptions) -> tuple[Backend, float]:
    """A loaded backend and the seconds its load took."""
    backend = cls()
    t0 = time.perf_counter()
    backend.load(artifact, options)
    return backend, time.perf_counter() - t0


def record_compile(backend: Backend, one_off: dict[str, Any]) -> None:
    """The seconds ``backend`` spent compiling (``Backend.compile_s``) into ``one_off``, read
    after its ``prepare``; nothing where it compiles nothing (or, a plug-in that is no Backend
    subclass, lacks the hook)."""
    hook = getattr(backend, "compile_s", None)
    compiled = hook() if callable(hook) else None
    if compiled is not None:
        one_off["compile_s"] = compiled


def first_call(backend: Backend, prepared: Any, describe: Callable[[], str]) -> tuple[Any, int]:
    """The cold first call (synchronised where the device is asynchronous): raw outputs, ns.

    A failure here is the model refusing its inputs: one line naming them.
    """
    sync = backend.synchronize if backend.needs_sync else None
    t0 = time.perf_counter_ns()
    try:
        raw = backend.run(prepared)
        if sync is not None:
            sync()
    except Exception as err:
        shown = describe()
        where = f" {shown}" if shown else ""
        raise ModelInputError(f"{backend.name} rejected the inputs{where}: {first_line(err)}") from err
    return raw, time.perf_counter_ns() - t0


def warm_calls(backend: Backend, prepared: Any, n: int) -> None:
    """``n`` untimed calls (synchronised), so that the model's arenas have grown before a mark."""
    for _ in range(n):
        backend.run(prepared)
        if backend.needs_sync:
            backend.synchronize()


def scope_of(backend: Backend) -> contextlib.AbstractContextManager[Any]:
    """The backend's inference scope (PyTorch: inference mode), entered once around the calls.

    A scope can be per thread (torch's inference mode is): each calling thread enters its own.
    """
    scope = getattr(backend, "inference_scope", None)
    return scope() if callable(scope) else contextlib.nullcontext()


def process_section(method: str | None = None) -> dict[str, Any]:
    """What the measured process held: its framework modules (and how it dies with its parent)."""
    from hepinfer.runner.protocol import heavy_modules

    out: dict[str, Any] = {"modules": heavy_modules()}
    if method is not None:
        out["parent_guard"] = method
    return out
