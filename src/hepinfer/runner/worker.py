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

from hepinfer.runner.protocol import JobHandler, Phases, serve


def execute(raw_job: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """Run the job; returns the worker's part of the record (raises on failure)."""
    run = _Measurement(raw_job, phases)
    run.open()
    run.prepare()
    run.calls()
    run.extras()
    return run.finish()


class _Measurement:
    """One configuration in this process, phase by phase; ``out`` is the worker's result."""

    def __init__(self, raw_job: dict[str, Any], phases: Phases) -> None:
        from hepinfer.measure.memory import MemoryProbe
        from hepinfer.runner.job import Job

        self.raw_job = raw_job
        self.job = Job.from_dict(raw_job)
        self.phases = phases
        self.out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
        self.probe = MemoryProbe()  # RSS per phase and the peak during each (measure.memory)

    def open(self) -> None:
        """Import the backend's runtime, open the model the parent staged, load it."""
        from hepinfer.runner import harness

        key, one_off = self.job.key, self.out["one_off"]
        self.phases.enter("import")
        self.cls = harness.import_backend(key.backend, one_off)
        self.probe.mark("import")
        # The parent converted the model (runner.stage): the worker opens what it made.
        self.phases.enter("convert")
        self.ref, self.spec, self.artifact = harness.model_of(self.raw_job)
        one_off["conversion"] = self.artifact.conversions
        self.probe.mark("convert")
        self.phases.enter("load")
        self.options = harness.options_of(self.cls, key.options, key.threads, key.device)
        self.backend, one_off["load_s"] = harness.load(self.cls, self.artifact, self.options)
        self.probe.mark("load")

    def prepare(self) -> None:
        """Inputs (seeded, or a data file's first events) prepared for the timed calls."""
        from hepinfer.runner import harness

        key, data = self.job.key, self.job.data
        self.phases.enter("prepare")
        # Per-event input shapes (the batch axis dropped), for events read from a file.
        self.event_shapes = {n: s[1:] for n, s in self.spec.shapes(key.batch, key.dims).items()}
        if data is not None:  # real events, so that timing and agreement see real data
            from hepinfer.data.pipeline import first_inputs

            self.inputs = first_inputs(data.path, self.event_shapes, key.batch)
        elif self.job.inputs_path is not None:  # built by the parent (runner.stage), same seed
            with np.load(self.job.inputs_path) as staged:
                self.inputs = {k: staged[k] for k in staged.files}
        else:
            from hepinfer.zoo import build_inputs

            self.inputs = build_inputs(self.ref, self.spec, key.batch, key.dims, key.seed)
        self.prepared = self.backend.prepare(self.inputs)
        self.probe.mark("prepare")
        # Compilation happens in prepare (Backend.compile_s): read once, for these shapes.
        harness.record_compile(self.backend, self.out["one_off"])

    def calls(self) -> None:
        """The cold first call, the model's working memory, then warm-up and timing."""
        from hepinfer.measure.timer import measure
        from hepinfer.runner import harness

        backend, prepared, policy, out = self.backend, self.prepared, self.job.policy, self.out
        sync = backend.synchronize if self.cls.needs_sync else None
        with harness.scope_of(backend):
            self.phases.enter("first_call")
            raw, out["one_off"]["first_call_ns"] = harness.first_call(
                backend, prepared, lambda: _shapes(self.inputs)
            )
            self.outputs = backend.fetch(prepared, raw)
            if self.job.measure:
                # The model's working memory: the first call and a few warm calls, before the
                # timing loop allocates its buffer (the "timing" delta holds the harness's).
                harness.warm_calls(backend, prepared, policy.warmup_calls)
            self.probe.mark("inference")
            if self.job.measure:
                # Timer overhead, warm-up and timing in one call, nothing in between.
                self.phases.enter("timing")
                timed = measure(backend.run, prepared, policy, sync)
                self.probe.mark("timing")
                found = timed.to_dict()
                out["samples_ns"] = found.pop("samples_ns")
                out["timing"].update(found, policy=policy.to_dict())
        if self.job.measure and self.cls.has_native_timing:
            # The backend's own loop (SOFIE: steady_clock around each call inside the C++
            # library), after the harness's samples and their memory mark: recorded beside them.
            self.phases.enter("native_timing")
            n = min(len(out["samples_ns"]), 100_000)
            out["timing"]["native"] = {
                "samples_ns": backend.native_timing(prepared, n, policy.warmup_calls),  # type: ignore[attr-defined]
                "timer_overhead_ns": backend.native_timer_overhead_ns(),  # type: ignore[attr-defined]
                "what": "per-call steady_clock inside the backend's own library (no Python call)",
            }

    def extras(self) -> None:
        """What follows the measurement: outputs, validation sets, backend hooks, file timing."""
        from hepinfer.runner import harness

        job, backend, out = self.job, self.backend, self.out
        np.savez(self.raw_job["outputs_path"], **self.outputs)  # type: ignore[arg-type]
        out["output_shapes"] = {k: list(v.shape) for k, v in self.outputs.items()}
        out["backend"] = {"settings": backend.settings()}
        out["process"] = harness.process_section(self.raw_job.get("parent_guard"))
        if job.input_files:
            # Validation: more input sets through the same loaded backend, outputs per set.
            from hepinfer.runner.validate import run_input_files

            self.phases.enter("input_files")
            out["input_files"] = run_input_files(backend, job.input_files)
        if not job.measure:
            return
        # Optional backend hook (GPU backends): untimed extras measured after timing, merged
        # into the record's sections, e.g. timing.breakdown, memory.device, one_off times.
        after = getattr(backend, "after_timing", None)
        if callable(after):
            self.phases.enter("after_timing")
            for section, values in after(self.prepared).items():
                out.setdefault(section, {}).update(values)
        if job.data is not None:  # disk-inclusive timing: read, preprocess and infer from the file
            from hepinfer.data.pipeline import time_from_file

            self.phases.enter("data")
            sync = backend.synchronize if self.cls.needs_sync else None
            out["data"] = time_from_file(
                backend.run,
                backend.prepare,
                self.event_shapes,
                job.data.path,
                job.key.batch,
                chunk=job.data.chunk,
                max_events=job.data.max_events,
                sync=sync,
            )

    def finish(self) -> dict[str, Any]:
        """Memory summary, the optional heap profile and the environment; the result."""
        from hepinfer.measure.environment import environment

        out, job = self.out, self.job
        self.probe.close()
        out["memory"].update(self.probe.summary())  # beside what a backend hook put there
        if job.memray_dir:
            from hepinfer.measure.memory import memray_profile

            self.phases.enter("memray")
            name = job.memray_name or "heap"
            out["memory"]["memray"] = memray_profile(
                self.cls, self.artifact, self.options, self.inputs, job.memray_dir, name
            )
        self.phases.enter("environment")
        out["environment"] = environment(self.cls.packages, known=self.raw_job.get("environment"))
        return out


def _shapes(inputs: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k}{list(v.shape)}" for k, v in inputs.items())


def main(argv: list[str]) -> int:
    """Entry point; exit 0 whenever a result (success or a caught error) was written."""
    job_path = Path(argv[1])
    task = json.loads(job_path.read_text()).get("task")
    handle: JobHandler = execute
    if task == "memory":  # hepinfer memory: sessions vs threads
        from hepinfer.runner.memory import execute_memory

        handle = execute_memory
    return serve(job_path, handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
