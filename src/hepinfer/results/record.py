"""The result record as a value: frozen sections with attributes, round-tripping through JSON.

A record on disk is one JSON object (schema in ``results.schema``); ``Record.from_dict``
turns it into this typed form, checking the types of every field it knows, and ``to_dict``
gives the JSON form back. A section the record lacks is ``None``, never ``{}``. Fields a
section does not declare (kind-specific ones: a GPU backend's breakdown, the event loop's
counts) are kept in ``extra`` and written back unchanged, so reading and writing a record
loses nothing.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hepinfer.errors import ResultsError
from hepinfer.results.schema import SCHEMA_VERSION, Key, migrate

S = TypeVar("S", bound="Section")


@dataclass(frozen=True)
class Section:
    """A record section: declared fields, and whatever else it held in ``extra``.

    A subclass declares its fields as ``name: T | None = None``; the JSON types each may hold
    are read off ``T`` (``float`` takes an int too, a tuple is a JSON list).
    """

    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any] | None, where: str) -> S | None:
        """The section from its JSON form (None for an absent section); bad types refused."""
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise ResultsError(f"{where} is {type(data).__name__}, expected an object")
        declared = _declared(cls)
        kwargs: dict[str, Any] = {}
        for name, allowed in declared.items():
            value = data.get(name)
            if value is not None and not isinstance(value, allowed):
                kinds = " or ".join(t.__name__ for t in allowed)
                raise ResultsError(f"{where}.{name} is {type(value).__name__}, expected {kinds}")
            kwargs[name] = tuple(value) if isinstance(value, list) and tuple in allowed else value
        extra = {k: v for k, v in data.items() if k not in declared}
        return cls(extra=extra, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the declared fields that are set, then the extra ones."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        out.update(self.extra)
        return out


_DECLARED: dict[type, dict[str, tuple[type, ...]]] = {}


def _declared(cls: type) -> dict[str, tuple[type, ...]]:
    """A section's declared fields (in order) -> the JSON types each may hold (None aside)."""
    if cls in _DECLARED:
        return _DECLARED[cls]
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        (kind,) = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]  # T | None
        base = typing.get_origin(kind) or kind
        out[f.name] = {float: (int, float), tuple: (list, tuple)}.get(base, (base,))
    _DECLARED[cls] = out
    return out


@dataclass(frozen=True)
class ErrorInfo(Section):
    """Why a configuration has no measurement: the error's type, first line and phase."""

    type: str | None = None
    message: str | None = None
    phase: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class Timing(Section):
    """How the samples were taken (the samples themselves are the record's ``samples_ns``)."""

    warmup_calls: int | None = None
    rewarm_calls: int | None = None
    timer_overhead_ns: float | None = None
    stop_reason: str | None = None
    policy: dict[str, Any] | None = None
    timed_s: float | None = None
    wall_s: float | None = None
    # A backend's own timing loop (SOFIE's C++ loop): its samples and what they time.
    native: dict[str, Any] | None = None


@dataclass(frozen=True)
class OneOff(Section):
    """Costs paid once: imports, conversion (in the parent), load, compilation, the cold first call.

    ``conversion`` is the parent's work before the worker starts (exports, SOFIE's code
    generation and C++ build), ``conversion_s`` its sum. ``compile_s`` is the measured
    process's compilation of the loaded model (``Backend.compile_s``: torch.compile, OpenVINO's
    ``compile_model``, a TensorRT engine), paid in ``prepare``: in neither ``load_s`` nor
    ``first_call_ns``. Absent (None) where the backend compiles nothing, and in records
    written before it was recorded.
    """

    import_s: float | None = None
    load_s: float | None = None
    compile_s: float | None = None
    first_call_ns: float | None = None
    warm_median_ns: float | None = None
    cold_over_warm: float | None = None
    conversion: dict[str, Any] | None = None
    conversion_s: float | None = None
    analysis_s: float | None = None


# A conversion step's own time fields, where it has no single ``seconds``: SOFIE's code
# generation and C++ build, hls4ml's conversion and C simulation build.
_STEP_PARTS = ("generate_s", "convert_s", "compile_s")


def step_seconds(step: Mapping[str, Any]) -> float:
    """The seconds this run paid for one ``one_off.conversion`` step: its ``seconds``, else
    the sum of its parts (SOFIE: ``generate_s`` + ``compile_s``). A cache hit paid nothing:
    exports write 0 then, while SOFIE and hls4ml keep the original build's parts in the step
    (provenance), which are not counted here."""
    if isinstance(step.get("seconds"), int | float):
        return float(step["seconds"])
    if step.get("cached"):
        return 0.0
    return float(sum(step[p] for p in _STEP_PARTS if isinstance(step.get(p), int | float)))


@dataclass(frozen=True)
class Memory(Section):
    """RSS per phase, the peak during each, the deltas, and the graph-level minimum."""

    rss: dict[str, Any] | None = None
    peak: dict[str, Any] | None = None
    peak_method: str | None = None
    deltas: dict[str, Any] | None = None
    measured_bytes: int | None = None
    minimum: dict[str, Any] | None = None

    @property
    def peak_bytes(self) -> int | None:
        """The highest peak RSS over the phases (None when no peak was recorded)."""
        return max(self.peak.values(), default=None) if self.peak else None


@dataclass(frozen=True)
class Agreement(Section):
    """How the outputs compare with the reference's on the same inputs."""

    verdict: str | None = None
    reference: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None


@dataclass(frozen=True)
class Process(Section):
    """What the measured process held: the framework modules present, how it ends with its parent."""

    modules: tuple[str, ...] | None = None
    parent_guard: str | None = None


@dataclass(frozen=True)
class Repeat(Section):
    """Which of K worker processes of one configuration this record is (``bench --repeat K``).

    Each process is a record of its own, so that ``samples_ns``, ``stats``, ``memory`` and
    ``one_off`` keep meaning one process's measurement; the K records of a run share ``group``
    and ``compare`` tests on their per-process statistics.
    """

    group: str | None = None
    index: int | None = None
    of: int | None = None


_KEY_FIELDS = {f.name for f in dataclasses.fields(Key)}
# Record fields in their order on disk; the sections are typed, the rest kept as they are.
_SECTIONS: dict[str, type[Section]] = {
    "error": ErrorInfo,
    "timing": Timing,
    "one_off": OneOff,
    "memory": Memory,
    "agreement": Agreement,
    "process": Process,
    "repeat": Repeat,
}
_HEAD = ("schema_version", "kind", "run_id", "record_id", "created", "status")
KINDS = ("bench", "memory", "eventloop", "loadgen", "validate")  # validate: the report in ``extra``


@dataclass(frozen=True)
class Record:
    """One configuration's result: identity, raw samples, typed sections, derived statistics."""

    kind: str
    run_id: str
    record_id: str
    created: str
    status: str
    key: Key
    # Fields of the key beyond the bench Key (the event loop's mode, LoadGen's scenario).
    key_extra: dict[str, Any] = field(default_factory=dict)
    samples_ns: tuple[int, ...] = ()
    stats: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    backend: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    timing: Timing | None = None
    one_off: OneOff | None = None
    memory: Memory | None = None
    agreement: Agreement | None = None
    process: Process | None = None
    repeat: Repeat | None = None
    # Kind-specific sections (eventloop, loadgen, sessions, data, event_ns, warnings, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        """Whether the configuration was measured (else ``error`` says why not)."""
        return self.status == "ok"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "record") -> Record:
        """A record from its JSON form, migrated to the current schema and type-checked."""
        data = migrate(dict(data), source)
        for name in (*_HEAD, "key"):
            if name not in data:
                raise ResultsError(f"{source} has no '{name}': not a complete hepinfer record")
        if data["kind"] not in KINDS:
            raise ResultsError(f"{source} has kind {data['kind']!r}; expected one of {', '.join(KINDS)}")
        if data["status"] not in ("ok", "error"):
            raise ResultsError(f"{source} has status {data['status']!r}; expected ok or error")
        raw_key = dict(data["key"])
        try:
            key = Key.from_dict({k: v for k, v in raw_key.items() if k in _KEY_FIELDS})
        except TypeError as err:
            raise ResultsError(f"{source}: its key is incomplete ({err})") from err
        samples = data.get("samples_ns") or []
        if not all(isinstance(x, int) for x in samples):
            raise ResultsError(f"{source}: samples_ns must be integers (nanoseconds)")
        sections = {
            name: kind.from_dict(data.get(name), f"{source}.{name}") for name, kind in _SECTIONS.items()
        }
        plain = {"stats", "model", "backend", "environment"}
        known = {*_HEAD, "key", "samples_ns", *plain, *_SECTIONS}
        return cls(
            kind=data["kind"],
            run_id=data["run_id"],
            record_id=data["record_id"],
            created=data["created"],
            status=data["status"],
            key=key,
            key_extra={k: v for k, v in raw_key.items() if k not in _KEY_FIELDS},
            samples_ns=tuple(samples),
            **{name: (data.get(name) or None) for name in plain},
            **sections,  # type: ignore[arg-type]
            extra={k: v for k, v in data.items() if k not in known},
            schema_version=data["schema_version"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as ``jsonl.append`` writes it."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _HEAD}
        out["key"] = {**self.key.to_dict(), **self.key_extra}
        out["error"] = self.error.to_dict() if self.error is not None else None
        out["samples_ns"] = list(self.samples_ns)
        for name in ("timing", "stats", "model", "backend", "one_off", "memory", "agreement"):
            value = getattr(self, name)
            out[name] = value.to_dict() if isinstance(value, Section) else value
        out["environment"] = self.environment
        out["process"] = self.process.to_dict() if self.process is not None else None
        if self.repeat is not None:  # written only by --repeat runs: older files stay as they were
            out["repeat"] = self.repeat.to_dict()
        out.update(self.extra)
        return out
