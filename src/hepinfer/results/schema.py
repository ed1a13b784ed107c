"""The result record: one per configuration, raw samples plus identity, statistics derived.

History of ``schema_version`` (readers migrate older versions or refuse newer ones):
  1  2026-11  first version: key, status/error, samples_ns, timing, stats, model, backend,
              one_off, memory, agreement, environment.
  2  2026-12  the measured process: ``process`` (framework modules present, parent guard);
              conversion and graph analysis in the parent (``one_off.analysis_s``; memory no
              longer counts them); ``timing`` from one ``measure()`` call (``rewarm_calls``,
              ``timed_s``, ``wall_s``, ``native`` for a backend's own loop); ``stats`` with
              tails only where valid (``p99_ns`` None below 1000 samples, ``p99_valid``,
              ``tail_note``), a median CI that holds under autocorrelation (``ci_method``) and
              ``sustained_eps`` beside the median-based ``throughput_eps``; agreement
              ``identical`` means bitwise (``equal values, not bitwise`` otherwise), with
              ``ulp_unit`` and ``precision``.
              Migrating a version-1 record: ``process`` is None (not recorded), bench and
              event-loop stats are derived again from the raw samples, and a version-1
              "identical" (which compared values, not bits) becomes "equal values, not
              bitwise" with the reason that the bits were not compared.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hepinfer.errors import ResultsError

SCHEMA_VERSION = 2
_V1_IDENTICAL = "schema 1 compared values, not bits: bitwise identity unknown"


def _v1_to_v2(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2 (see the history above)."""
    from hepinfer.measure.stats import summarize

    out = dict(record)
    out["schema_version"] = 2
    out.setdefault("process", None)
    ok = out.get("status") == "ok"
    old = dict(out.get("stats") or {})
    if ok and out.get("kind") == "bench" and out.get("samples_ns"):
        stats = summarize(out["samples_ns"], out["key"]["batch"], old.get("confidence", 0.95))
        macs = ((out.get("model") or {}).get("cost") or {}).get("macs_per_event")
        if macs:
            stats["gflops"] = 2 * macs * stats["throughput_eps"] / 1e9
        out["stats"] = stats
    elif ok and out.get("kind") == "eventloop" and out.get("samples_ns"):
        old["call"] = summarize(out["samples_ns"], 1)
        if out.get("event_ns"):
            old["event"] = summarize(out["event_ns"], 1)
        out["stats"] = old
    agreement = out.get("agreement")
    if isinstance(agreement, dict):
        out["agreement"] = _v1_agreement(agreement)
    return out


def _v1_agreement(agreement: dict[str, Any]) -> dict[str, Any]:
    """A version-1 "identical" compared values: say so rather than claim bitwise identity."""
    from hepinfer.measure.agreement import EQUAL_NOT_BITWISE, IDENTICAL

    out = dict(agreement)
    if out.get("verdict") == IDENTICAL:
        out["verdict"] = EQUAL_NOT_BITWISE
        out["not_bitwise"] = {name: _V1_IDENTICAL for name in out.get("outputs") or {"outputs": None}}
    outputs = {}
    for name, o in (out.get("outputs") or {}).items():
        o = dict(o)
        if o.get("verdict") == IDENTICAL:
            o["verdict"] = EQUAL_NOT_BITWISE
            o["not_bitwise"] = {"reason": _V1_IDENTICAL}
        outputs[name] = o
    if "outputs" in out:
        out["outputs"] = outputs
    return out


# version -> function turning a record of that version into one of the next version.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


@dataclass(frozen=True)
class Key:
    """What was measured. Two records with equal keys measured the same configuration."""

    model: str
    backend: str
    batch: int
    threads: int
    device: str = "cpu"
    options: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)
    model_params: dict[str, Any] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as stored under ``key``."""
        return asdict(self)

    def __hash__(self) -> int:
        # The dict fields make the generated hash impossible; hash the canonical JSON instead.
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Key:
        """Inverse of to_dict."""
        return cls(**data)

    def label(self) -> str:
        """Backend and its non-default options, for tables: ``onnxruntime[iobinding=True]``."""
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.backend}[{opts}]" if opts else self.backend


def new_record(key: Key, run_id: str) -> dict[str, Any]:
    """An empty record for a configuration: identity first, the rest filled by the runner."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "bench",
        "run_id": run_id,
        "record_id": uuid.uuid4().hex,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": "ok",
        "key": key.to_dict(),
        "error": None,
        "samples_ns": [],
        "timing": {},
        "stats": {},
        "model": {},
        "backend": {},
        "one_off": {},
        "memory": {},
        "agreement": None,
        "environment": {},
        "process": None,
    }


def migrate(record: dict[str, Any], source: str = "record") -> dict[str, Any]:
    """The record in the current schema version, or a ResultsError saying why not."""
    version = record.get("schema_version")
    if not isinstance(version, int):
        raise ResultsError(f"{source} has no schema_version: not a hepinfer result record")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{source} has schema_version {version}, newer than this hepinfer reads "
            f"({SCHEMA_VERSION}); upgrade hepinfer"
        )
    while version < SCHEMA_VERSION:
        record = MIGRATIONS[version](record)
        version = record["schema_version"]
    return record
