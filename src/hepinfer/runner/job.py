"""A measured worker's job: what the parent planned and staged, as a value that travels as JSON.

The parent builds a ``Job`` for each configuration (``bench``, ``memory`` and ``validate``
runs), stages its model (``runner.stage``) and launches the worker, which reads the same
``Job`` back. The event loop and LoadGen add their own fields in ``params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hepinfer.measure.timer import TimingPolicy
from hepinfer.results.schema import Key
from hepinfer.zoo.spec import ModelRef, ModelSpec, spec_from_dict, spec_to_dict

Task = Literal["bench", "memory"]


@dataclass(frozen=True)
class DataSource:
    """Disk-inclusive timing: an event file read in chunks (``bench --data``)."""

    path: str
    chunk: int = 1000
    max_events: int | None = None


@dataclass(frozen=True)
class Job:
    """One configuration for one worker process."""

    key: Key
    model_ref: ModelRef
    spec: ModelSpec
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    task: Task = "bench"
    # False: outputs only (a reference for agreement, or validation's input sets).
    measure: bool = True
    # Staged by the parent: the file the backend loads (None: the zoo model natively) and how
    # each file was made (one-off costs; SOFIE's build, which its load opens).
    onnx_path: str | None = None
    conversions: Mapping[str, Any] = field(default_factory=dict)
    data: DataSource | None = None
    # The seeded inputs the parent built (``runner.stage``); None: the worker builds them.
    inputs_path: str | None = None
    memray_dir: str | None = None
    memray_name: str | None = None
    # Validation: more input sets through the loaded backend (``validate.run_input_files``).
    input_files: tuple[Mapping[str, Any], ...] = ()
    # hepinfer memory: calls per phase.
    calls: int = 5

    def staged(self, fields: Mapping[str, Any]) -> Job:
        """This job with the parent's stage (``runner.stage.job_fields``) filled in."""
        return replace(
            self,
            onnx_path=fields.get("onnx_path"),
            conversions=dict(fields.get("conversions") or {}),
            inputs_path=fields.get("inputs_path"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON the worker reads (``launch.run_job`` adds the paths and the parent's pid)."""
        return {
            "task": self.task,
            "key": self.key.to_dict(),
            "model_ref": self.model_ref.to_dict(),
            "spec": spec_to_dict(self.spec),
            "policy": self.policy.to_dict(),
            "measure": self.measure,
            "onnx_path": self.onnx_path,
            "conversions": dict(self.conversions),
            "data": None if self.data is None else vars(self.data).copy(),
            "inputs_path": self.inputs_path,
            "memray_dir": self.memray_dir,
            "memray_name": self.memray_name,
            "input_files": [dict(e) for e in self.input_files],
            "calls": self.calls,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """Inverse of to_dict (extra fields the launcher added are ignored)."""
        return cls(
            key=Key.from_dict(data["key"]),
            model_ref=ModelRef.from_dict(data["model_ref"]),
            spec=spec_from_dict(data["spec"]),
            policy=TimingPolicy(**data["policy"]),
            task=data.get("task") or "bench",
            measure=bool(data.get("measure", True)),
            onnx_path=data.get("onnx_path"),
            conversions=dict(data.get("conversions") or {}),
            data=DataSource(**data["data"]) if data.get("data") else None,
            inputs_path=data.get("inputs_path"),
            memray_dir=data.get("memray_dir"),
            memray_name=data.get("memray_name"),
            input_files=tuple(data.get("input_files") or ()),
            calls=int(data.get("calls", 5)),
        )
