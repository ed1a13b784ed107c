"""One configuration, measured in this process: ``python -m hepinfer.runner.worker JOB.json``.

The parent starts a fresh interpreter per configuration, because thread settings of the
frameworks can be set once per process and because a crash, hang or OOM here must cost this
configuration only. The worker writes its phase to ``*.phase`` as it goes (so the parent can
say where a crash happened), the outputs of the first call to ``*.npz``, and the finished
result to ``*.result.json`` (atomically).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class _Phases:
    """Records the current phase to a file the parent reads if this process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "start"

    def enter(self, name: str) -> None:
        self.name = name
        self.path.write_text(name)


def execute(job: dict[str, Any], phases: _Phases) -> dict[str, Any]:
    """Run the job; returns the worker's part of the record (raises on failure)."""
    from hepinfer.backends.base import ModelArtifact
    from hepinfer.backends.registry import backend_class
    from hepinfer.errors import ModelInputError, first_line
    from hepinfer.measure.environment import environment
    from hepinfer.measure.memory import MemoryProbe
    from hepinfer.measure.timer import TimingPolicy, time_calls, timer_overhead_ns, warm_up
    from hepinfer.zoo import ModelRef, build_inputs, spec_of

    key = job["key"]
    out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
    probe = MemoryProbe()  # RSS per phase and the peak during each (see measure.memory)

    phases.enter("import")
    cls = backend_class(key["backend"])
    reason = cls.unavailable_reason()
    t0 = time.perf_counter()
    if reason is None:
        for pkg in cls.packages:
            __import__(pkg)
    out["one_off"]["import_s"] = time.perf_counter() - t0
    if reason is not None:
        from hepinfer.errors import BackendUnavailable

        raise BackendUnavailable(f"backend {cls.name} is unavailable: {reason}")
    probe.mark("import")

    phases.enter("convert")
    ref = ModelRef.from_dict(job["model_ref"])
    spec = spec_of(ref)
    artifact = ModelArtifact(ref=ref, spec=spec, exporter=key["exporter"])
    if "onnx" in cls.formats and not ("torch" in cls.formats and "torch" in artifact.formats):
        artifact.onnx_path()  # export now, so that load time excludes conversion
    out["one_off"]["conversion"] = artifact.conversions
    probe.mark("convert")

    phases.enter("load")
    options = cls.Options.from_strings(
        cls.name,
        {k: str(v) for k, v in key["options"].items()},
        threads=key["threads"],
        device=key["device"],
    )
    backend = cls()
    t0 = time.perf_counter()
    backend.load(artifact, options)
    out["one_off"]["load_s"] = time.perf_counter() - t0
    probe.mark("load")

    phases.enter("prepare")
    # Per-event input shapes (the batch axis dropped), for events read from a file.
    event_shapes = {name: s[1:] for name, s in spec.shapes(key["batch"], key["dims"]).items()}
    if job.get("data"):  # the file's first events, so that timing and agreement see real data
        from hepinfer.data.pipeline import first_inputs

        inputs = first_inputs(job["data"]["path"], event_shapes, key["batch"])
    else:
        inputs = build_inputs(ref, spec, key["batch"], key["dims"], key["seed"])
    prepared = backend.prepare(inputs)
    probe.mark("prepare")

    phases.enter("first_call")
    sync = backend.synchronize if cls.needs_sync else None
    t0 = time.perf_counter_ns()
    try:
        raw = backend.run(prepared)
        if sync is not None:
            sync()
    except Exception as err:
        first = first_line(err)
        raise ModelInputError(f"{cls.name} rejected the inputs {_shapes(inputs)}: {first}") from err
    out["one_off"]["first_call_ns"] = time.perf_counter_ns() - t0
    outputs = backend.fetch(prepared, raw)
    np.savez(job["outputs_path"], **outputs)  # type: ignore[arg-type]
    out["output_shapes"] = {k: list(v.shape) for k, v in outputs.items()}

    out["backend"] = {"settings": backend.settings()}
    if job.get("input_files"):
        # Validation: more input sets through the same loaded backend, outputs per set.
        from hepinfer.runner.validate import run_input_files

        phases.enter("input_files")
        out["input_files"] = run_input_files(backend, job["input_files"])
    if job.get("measure", True):
        policy = TimingPolicy(**job["policy"])
        phases.enter("warmup")
        out["timing"]["warmup_calls"] = warm_up(backend.run, prepared, policy, sync)
        phases.enter("timing")
        out["timing"]["timer_overhead_ns"] = timer_overhead_ns()
        samples, reason_stop = time_calls(backend.run, prepared, policy, sync)
        out["samples_ns"] = samples
        out["timing"]["stop_reason"] = reason_stop
        out["timing"]["policy"] = policy.to_dict()
        probe.mark("inference")
        # Optional backend hook (GPU backends): untimed extras measured after timing, merged
        # into the record's sections, e.g. timing.breakdown, memory.device, one_off times.
        after = getattr(backend, "after_timing", None)
        if callable(after):
            phases.enter("after_timing")
            for section, values in after(prepared).items():
                out.setdefault(section, {}).update(values)
        if job.get("data"):  # disk-inclusive timing: read, preprocess and infer from the file
            from hepinfer.data.pipeline import time_from_file

            phases.enter("data")
            d = job["data"]
            out["data"] = time_from_file(
                backend.run,
                backend.prepare,
                event_shapes,
                d["path"],
                key["batch"],
                chunk=d["chunk"],
                max_events=d["max_events"],
                sync=sync,
            )
    else:
        probe.mark("inference")
    probe.close()
    out["memory"].update(probe.summary())  # beside what a backend hook put there
    if job.get("minimum", True):
        from hepinfer.measure.min_memory import minimum_for_record

        phases.enter("minimum")
        out["memory"]["minimum"] = minimum_for_record(ref, spec, key, out["memory"])
        from hepinfer.convert.cost import cost_for_record

        phases.enter("cost")
        out["cost"] = cost_for_record(ref, spec, key)
    if job.get("memray_dir"):
        from hepinfer.measure.memory import memray_profile

        phases.enter("memray")
        out["memory"]["memray"] = memray_profile(
            cls, artifact, options, inputs, job["memray_dir"], job["memray_name"]
        )
    phases.enter("environment")
    out["environment"] = environment(cls.packages)
    return out


def _shapes(inputs: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}{list(v.shape)}" for k, v in inputs.items())


Body = Callable[[dict[str, Any], _Phases], dict[str, Any]]


def main(argv: list[str], body: Body | None = None) -> int:
    """Entry point; exit 0 whenever a result (success or a caught error) was written.

    ``body`` runs the job (default: this module's ``execute``); other workers (the event
    loop, LoadGen) reuse the phases, error capture and atomic result writing by passing theirs.
    """
    run_body = body if body is not None else execute
    job_path = Path(argv[1])
    job = json.loads(job_path.read_text())
    phases = _Phases(Path(job["result_path"]).with_suffix(".phase"))
    try:
        if body is None and job.get("task") == "memory":  # hepinfer memory: sessions vs threads
            from hepinfer.runner.memory import execute_memory

            run_body = execute_memory
        result: dict[str, Any] = {"status": "ok", **run_body(job, phases)}
    except Exception as err:
        from hepinfer.errors import HepinferError

        message = str(err) if isinstance(err, HepinferError) else f"{type(err).__name__}: {err}"
        result = {
            "status": "error",
            "error": {
                "type": type(err).__name__,
                "message": message.strip().splitlines()[0] if message.strip() else type(err).__name__,
                "phase": phases.name,
                "traceback": traceback.format_exc(),
            },
        }
    tmp = Path(job["result_path"] + ".tmp")
    tmp.write_text(json.dumps(result, default=_json_default))
    os.replace(tmp, job["result_path"])
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
