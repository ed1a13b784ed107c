"""The result record: one per configuration, raw samples plus identity, statistics derived.

History of ``schema_version`` (readers migrate older versions or refuse newer ones):
  1  2026-11  first version: key, status/error, samples_ns, timing, stats, model, backend,
              one_off, memory, agreement, environment.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from hepinfer.errors import ResultsError

SCHEMA_VERSION = 1
# version -> function turning a record of that version into one of the next version.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


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
