"""The backend interface: where a model runs.

Capabilities are declared on the class; the untimed work (``load``, ``prepare``, ``fetch``)
is separate from the timed ``run`` and from ``synchronize``; ``unavailable_reason`` says why a
backend cannot run here. A backend's framework is imported only inside its own module, and
only when the backend is used.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hepinfer._optional import missing

# ModelArtifact lives in convert/ (a model and the formats it converts to); re-exported here
# because every backend's load() takes one.
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.errors import ConfigurationError, ModelInputError
from hepinfer.zoo import ModelSpec

__all__ = ["Backend", "BackendOptions", "ModelArtifact", "Outputs", "Prepared", "check_inputs"]

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class BackendOptions:
    """Settings every backend takes; each backend subclasses this with its own fields.

    ``threads`` is the backend's own (intra-op) thread count; 0 leaves the framework's default.
    """

    threads: int = 1
    device: str = "cpu"

    @classmethod
    def from_strings(cls, backend: str, values: Mapping[str, str], **fixed: Any) -> BackendOptions:
        """Options from ``key=value`` strings, converted by field type, unknown keys refused."""
        return cls.from_values(backend, values, **fixed)

    @classmethod
    def from_values(cls, backend: str, values: Mapping[str, Any], **fixed: Any) -> BackendOptions:
        """Options from a key's typed values (``Key.options``, a job's), unknown keys refused.

        A value of the field's type is taken as it is (no round trip through text); a string
        is parsed as ``from_strings`` parses it; any other value is refused.
        """
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)} - {"threads", "device"}
        kwargs: dict[str, Any] = dict(fixed)
        for key, value in values.items():
            if key not in names:
                allowed = ", ".join(sorted(names)) or "none"
                raise ConfigurationError(
                    f"--option {backend}.{key}: {backend} has no option '{key}' (its options: {allowed})"
                )
            if isinstance(value, str):
                kwargs[key] = _convert(backend, key, value, hints[key])
            else:
                kwargs[key] = _typed(backend, key, value, hints[key])
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        """Every field, for the record key."""
        return dataclasses.asdict(self)

    def variant(self) -> dict[str, Any]:
        """Fields that differ from the defaults (threads and device excluded): the table label."""
        defaults = type(self)()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("threads", "device") and getattr(self, f.name) != getattr(defaults, f.name)
        }


def _typed(backend: str, key: str, value: Any, hint: Any) -> Any:
    """A non-string option value, checked against the field's type (bool is not an int)."""
    choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else ()
    base = hint if isinstance(hint, type) else None
    if isinstance(hint, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        base = next(a for a in typing.get_args(hint) if a is not type(None))
    if choices:
        ok = value in choices
    elif base is bool:
        ok = isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif base is not None:
        ok = isinstance(value, base) and not (isinstance(value, bool) and base is not bool)
    else:
        ok = False
    if not ok:
        want = ", ".join(map(str, choices)) if choices else getattr(base, "__name__", str(hint))
        raise ConfigurationError(f"option {backend}.{key}={value!r}: expected {want}")
    return value


def _convert(backend: str, key: str, text: str, hint: Any) -> Any:
    choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else ()
    if choices:
        if text not in choices:
            raise ConfigurationError(
                f"--option {backend}.{key}={text}: choose one of {', '.join(map(str, choices))}"
            )
        return text
    if hint is bool:
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"--option {backend}.{key}={text}: expected true or false")
    base = hint if isinstance(hint, type) else str
    if isinstance(hint, types.UnionType):
        base = next(a for a in typing.get_args(hint) if a is not type(None))
    try:
        return base(text)
    except ValueError as err:
        raise ConfigurationError(f"--option {backend}.{key}={text}: expected a {base.__name__}") from err


Prepared = Any


class Backend(abc.ABC):
    """Where a model runs. Subclasses declare name, formats, devices and Options."""

    name: ClassVar[str]
    formats: ClassVar[frozenset[str]]
    devices: ClassVar[frozenset[str]] = frozenset({"cpu"})
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    # Whether the timed region must call synchronize() (asynchronous devices).
    needs_sync: ClassVar[bool] = False
    # The framework modules it imports (their versions go into the record).
    packages: ClassVar[tuple[str, ...]] = ()
    # The hepinfer extra that installs them, for the error message; None: a core dependency.
    extra: ClassVar[str | None] = None
    # Whether several threads may call run() on one loaded instance at once (the HEP event
    # loop's "shared" mode), each with its own prepared inputs; a backend that is not safe to
    # share runs one session per thread.
    shareable: ClassVar[bool] = False
    # What the measured process imports (None: ``packages``); a backend whose model is built
    # in the parent (SOFIE's generator and compiler) needs only its runtime in the worker.
    runtime_packages: ClassVar[tuple[str, ...] | None] = None
    # Whether the backend has a timing loop of its own (``native_timing``), recorded beside
    # the harness's samples as ``timing.native``.
    has_native_timing: ClassVar[bool] = False

    @classmethod
    def prebuild(
        cls, model: ModelArtifact, options: BackendOptions, input_shapes: Mapping[str, Sequence[int]]
    ) -> Any:
        """Parent side, before the measured worker starts: build what ``load`` would build.

        The default builds nothing (None). A backend that generates and compiles code (SOFIE)
        builds here and records the build in ``model.conversions``, which its ``load`` opens.
        """
        return None

    @classmethod
    def interpreter(cls, model: ModelArtifact) -> str | None:
        """The Python the measured worker runs under for this model; None: the parent's own.

        A backend whose framework needs a venv of its own (MXNet's old numpy, onnx2torch's
        torchvision) names that venv's interpreter; ``runner.launch.run_job`` starts the worker
        there with hepinfer's source on its path. Parent side, after ``prebuild``.
        """
        return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the backend can run here, else why not and what to install.

        The default looks for the packages without importing them, so that ``hepinfer env``
        stays fast; a backend overrides it for deeper checks (a device, a driver).
        """
        return next(filter(None, (missing(pkg) for pkg in cls.packages)), None)

    @classmethod
    def unsupported(cls, onnx_path: Path) -> list[str] | None:
        """What of this ONNX file the backend cannot run, asked without running it.

        A list of operator types (or one reason) it refuses, ``[]`` when it takes the whole
        graph, None when it cannot tell cheaply (the default). Parent side, untimed: used by
        ``hepinfer doctor``; it may import the backend's framework.
        """
        return None

    @abc.abstractmethod
    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Untimed: create the session / compile the model."""

    @abc.abstractmethod
    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Untimed: turn numpy inputs into whatever the timed ``run`` consumes.

        Each prepared object is independent: several may be alive at once and run in any
        order, each ``run`` computing on its own inputs, and dropping one leaves the others
        intact. ``prepare`` runs no inference (the first ``run`` is the cold call).
        """

    @abc.abstractmethod
    def run(self, prepared: Prepared) -> Any:
        """Timed: one inference call. Returns the framework's raw outputs (no copies)."""

    @abc.abstractmethod
    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Untimed: the outputs of the last ``run`` of ``prepared`` as numpy arrays, by name."""

    def call(self, inputs: Mapping[str, np.ndarray]) -> Outputs:
        """One untimed call for in-process use (``hepinfer.Session``): prepare, run, fetch.

        The caller has checked ``inputs``: exactly the model's input names, C-contiguous numpy
        arrays in its dtypes. A backend may override it with a leaner path that relies on that.
        """
        prepared = self.prepare(inputs)
        return self.fetch(prepared, self.run(prepared))

    def caller(self) -> Callable[[Mapping[str, np.ndarray]], Outputs]:
        """``call`` as a caller binds it once (``hepinfer.Session``), after ``load``: by default
        ``call`` itself; a backend may return a closure over its session that does the same."""
        return self.call

    def inference_scope(self) -> contextlib.AbstractContextManager[None]:
        """A context the harness enters once around the first call, warm-up and timing.

        What a production loop sets once rather than on every call (PyTorch's inference
        mode). ``run`` stays correct outside it, only slower. The scope can be thread-local
        (PyTorch's is): each thread that calls ``run`` enters its own.
        """
        return contextlib.nullcontext()

    def compile_s(self) -> float | None:
        """Seconds this process spent compiling the model for the run, None where it compiles nothing.

        Compilation is what turns the loaded model into the code the timed calls execute, in
        the measured process: torch.compile's Inductor build, OpenVINO's ``compile_model``, a
        TensorRT engine build (or, on an engine-cache hit, the engine's load from the cache).
        Every backend that compiles does it in ``prepare``, when the input shapes are known, so
        the figure is in neither ``one_off.load_s`` (``load`` only) nor ``first_call_ns`` (the
        first ``run`` after ``prepare``): the three add up without double counting. Where the
        compilation is triggered by a call (torch.compile), that one untimed call is in this
        figure and the recorded first call is the first one on the compiled code. Conversions
        in the parent (SOFIE's code generation and C++ build) are ``one_off.conversion``, not
        this. The worker reads it once, after the first ``prepare``: a later prepare for other
        shapes (validation sets) may compile again without changing the record.
        """
        return None

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on CPU)."""

    def settings(self) -> dict[str, Any]:
        """What the backend actually configured (providers, thread pools), for the record."""
        return {}


def check_inputs(spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> None:
    """Refuse inputs whose names do not match the model, before any framework sees them."""
    want = [t.name for t in spec.inputs]
    if sorted(want) != sorted(inputs):
        raise ModelInputError(f"inputs {sorted(inputs)} do not match the model's inputs {want}")
