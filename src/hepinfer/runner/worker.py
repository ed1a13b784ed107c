"""One configuration, measured in this process: ``python -m hepinfer.runner.worker JOB.json``.

The parent starts a fresh interpreter per configuration, because thread settings of the
frameworks can be set once per process and because a crash, hang or OOM here must cost this
configuration only. The worker writes its phase to ``*.phase`` as it goes (so the parent can
say where a crash happened), the outputs of the first call to ``*.npz``, and the finished
result to ``*.result.json`` (atomically).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.runner.protocol import Body, Phases, serve


def execute(raw_job: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """Run the job; returns the worker's part of the record (raises on failure)."""
    from hepinfer.measure.memory import MemoryProbe
    from hepinfer.measure.timer import measure as measure_calls
    from hepinfer.runner import harness
    from hepinfer.runner.job import Job
    from hepinfer.zoo import build_inputs

    job = Job.from_dict(raw_job)
    key = job.key
    out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
    probe = MemoryProbe()  # RSS per phase and the peak during each (see measure.memory)

    phases.enter("import")
    cls = harness.import_backend(key.backend, out["one_off"])
    probe.mark("import")

    # The parent converted the model (runner.stage): the worker opens what it made.
    phases.enter("convert")
    ref, spec, artifact = harness.model_of(raw_job)
    out["one_off"]["conversion"] = artifact.conversions
    probe.mark("convert")

    phases.enter("load")
    options = harness.options_of(cls, key.options, key.threads, key.device)
    backend, out["one_off"]["load_s"] = harness.load(cls, artifact, options)
    probe.mark("load")

    phases.enter("prepare")
    # Per-event input shapes (the batch axis dropped), for events read from a file.
    event_shapes = {name: s[1:] for name, s in spec.shapes(key.batch, key.dims).items()}
    if job.data is not None:  # the file's first events, so that timing and agreement see real data
        from hepinfer.data.pipeline import first_inputs

        inputs = first_inputs(job.data.path, event_shapes, key.batch)
    else:
        inputs = build_inputs(ref, spec, key.batch, key.dims, key.seed)
    prepared = backend.prepare(inputs)
    probe.mark("prepare")

    sync = backend.synchronize if cls.needs_sync else None
    measure = job.measure
    policy = job.policy
    with harness.scope_of(backend):
        phases.enter("first_call")
        raw, out["one_off"]["first_call_ns"] = harness.first_call(backend, prepared, lambda: _shapes(inputs))
        outputs = backend.fetch(prepared, raw)
        if measure:
            # The model's working memory: the first call and a few warm calls, before the timing
            # loop allocates its buffer (measure.memory: the "timing" delta holds the harness's).
            harness.warm_calls(backend, prepared, policy.warmup_calls)
        probe.mark("inference")
        if measure:
            # Timer overhead, warm-up and timing in one call, nothing in between (measure.timer).
            phases.enter("timing")
            timed = measure_calls(backend.run, prepared, policy, sync)
            probe.mark("timing")
    if measure:
        found = timed.to_dict()
        out["samples_ns"] = found.pop("samples_ns")
        out["timing"].update(found)
        out["timing"]["policy"] = policy.to_dict()
    if measure and cls.has_native_timing:
        # The backend's own loop (SOFIE: steady_clock around each call inside the C++
        # library), after the harness's samples and their memory mark: recorded beside them.
        phases.enter("native_timing")
        native = backend.native_timing(prepared, min(len(out["samples_ns"]), 100_000), policy.warmup_calls)  # type: ignore[attr-defined]
        out["timing"]["native"] = {
            "samples_ns": native,
            "timer_overhead_ns": backend.native_timer_overhead_ns(),  # type: ignore[attr-defined]
            "what": "per-call steady_clock inside the backend's own library (no Python call)",
        }
    np.savez(raw_job["outputs_path"], **outputs)  # type: ignore[arg-type]
    out["output_shapes"] = {k: list(v.shape) for k, v in outputs.items()}
    out["backend"] = {"settings": backend.settings()}
    out["process"] = harness.process_section(raw_job.get("parent_guard"))
    if job.input_files:
        # Validation: more input sets through the same loaded backend, outputs per set.
        from hepinfer.runner.validate import run_input_files

        phases.enter("input_files")
        out["input_files"] = run_input_files(backend, job.input_files)
    if measure:
        # Optional backend hook (GPU backends): untimed extras measured after timing, merged
        # into the record's sections, e.g. timing.breakdown, memory.device, one_off times.
        after = getattr(backend, "after_timing", None)
        if callable(after):
            phases.enter("after_timing")
            for section, values in after(prepared).items():
                out.setdefault(section, {}).update(values)
        if job.data is not None:  # disk-inclusive timing: read, preprocess and infer from the file
            from hepinfer.data.pipeline import time_from_file

            phases.enter("data")
            out["data"] = time_from_file(
                backend.run,
                backend.prepare,
                event_shapes,
                job.data.path,
                key.batch,
                chunk=job.data.chunk,
                max_events=job.data.max_events,
                sync=sync,
            )
    probe.close()
    out["memory"].update(probe.summary())  # beside what a backend hook put there
    if job.memray_dir:
        from hepinfer.measure.memory import memray_profile

        phases.enter("memray")
        out["memory"]["memray"] = memray_profile(
            cls, artifact, options, inputs, job.memray_dir, job.memray_name or "heap"
        )
    from hepinfer.measure.environment import environment

    phases.enter("environment")
    out["environment"] = environment(cls.packages)
    return out


def _shapes(inputs: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}{list(v.shape)}" for k, v in inputs.items())


def main(argv: list[str]) -> int:
    """Entry point; exit 0 whenever a result (success or a caught error) was written."""
    job_path = Path(argv[1])
    task = json.loads(job_path.read_text()).get("task")
    body: Body = execute
    if task == "memory":  # hepinfer memory: sessions vs threads
        from hepinfer.runner.memory import execute_memory

        body = execute_memory
    return serve(job_path, body)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
