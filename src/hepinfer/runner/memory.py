"""``hepinfer memory``: memory against batch size, and N sessions against one shared session.

One worker process per (backend, batch), so that each batch starts from a fresh process and
no arena grown at a larger batch is counted at a smaller one. In the worker:

1. imports, conversion, one session (intra-op threads 1, as in CMSSW), inputs, ``calls``
   calls: the RSS phases of ``measure.memory`` and the theoretical minimum at this batch;
2. with N > 1 event threads: N threads calling the one shared session at once (each with its
   own inputs), then N-1 more sessions loaded and N threads each calling its own session.

The extra memory per thread is ``(peak with N threads - peak with 1) / (N - 1)``, for the
shared session and for one session per thread; ``session_bytes`` is the RSS one more session
costs at load.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.errors import ConfigurationError
from hepinfer.results.schema import Key, new_record
from hepinfer.runner.launch import run_job
from hepinfer.runner.records import RecordSink, add_minimum, take_result
from hepinfer.zoo import model_ref, spec_of

DEFAULT_BATCHES = (1, 4, 16, 64, 256, 1024)


@dataclass(frozen=True)
class MemoryRequest:
    """A model, its backends and batch sizes, and the number of event threads."""

    model: str
    backends: Sequence[str] = ("onnxruntime",)
    batches: Sequence[int] = DEFAULT_BATCHES
    threads: int = 1
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    calls: int = 5
    timeout_s: float = 900.0


def plan(request: MemoryRequest) -> list[Key]:
    """Check the request; one key per (backend, batch), ``threads`` holding the event threads."""
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    if not request.batches:
        raise ConfigurationError("no batch size given: use --batch 1,16,256")
    for batch in request.batches:
        spec.check_batch(batch)
    if request.threads < 1:
        raise ConfigurationError(f"--threads {request.threads}: use 1 or more event threads")
    if request.calls < 1:
        raise ConfigurationError(f"--calls {request.calls}: use 1 or more")
    backends = [check_name(b) for b in request.backends]
    if not backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime")
    keys = []
    for b in backends:
        opts = backend_class(b).Options.from_strings(b, dict(request.options.get(b, {}))).variant()
        for batch in request.batches:
            keys.append(
                Key(
                    model=ref.label,
                    backend=b,
                    batch=batch,
                    threads=request.threads,
                    options=opts,
                    dims=dims,
                    model_params=dict(ref.params),
                    exporter=request.exporter,
                    seed=request.seed,
                )
            )
    return keys


# The worker's result sections a memory record takes as they are.
_SECTIONS = ("one_off", "memory", "backend", "environment", "process", "sessions")


def run_memory(
    request: MemoryRequest,
    out: Path | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure every (backend, batch); append each record (kind ``memory``) to ``out``."""
    import shutil
    import tempfile

    from hepinfer.runner.job import Job
    from hepinfer.runner.stage import interpreter_for, stage_job, stager_for

    keys = plan(request)
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    run_id = uuid.uuid4().hex[:12]
    workdir = Path(tempfile.mkdtemp(prefix="hepinfer-memory-"))
    sink = RecordSink(out, on_record)
    try:
        for i, key in enumerate(keys):
            fields, staged, failed = stage_job(ref, spec, key, analyse=True)
            job = Job(key=key, model_ref=ref, spec=spec, task="memory", calls=request.calls).staged(fields)
            python = None if failed else interpreter_for(key, ref, spec, fields)
            payload = job.to_dict()
            # Each thread's session gets inputs of its own seed: staged here like bench's, so
            # that the worker imports no input builder (the zoo catalog, numpy.random).
            stager = stager_for(ref, spec)
            seeds = [dataclasses.replace(key, seed=key.seed + t) for t in range(key.threads)]
            payload["inputs_paths"] = [None if failed else stager.inputs_file(k) for k in seeds]
            result = failed or run_job(payload, workdir, f"mem{i:04d}", request.timeout_s, python=python)
            record = new_record(key, run_id)
            record["kind"] = "memory"
            record["model"] = {"ref": ref.to_dict()}
            if take_result(record, result, _SECTIONS):
                add_minimum(record, staged)
            sink.add(record)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return sink.records


def _concurrently(n: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` for i in 0..n-1 in n threads that start together; re-raise a failure."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=body, args=(i,), name=f"hepinfer-event-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def execute_memory(job: dict[str, Any], phases: Any) -> dict[str, Any]:
    """The worker's part (``task: memory``): see the module docstring."""
    import numpy as np

    from hepinfer.backends.base import Backend
    from hepinfer.measure.memory import MemoryProbe
    from hepinfer.runner import harness

    key = job["key"]
    calls = int(job.get("calls", 5))
    n = int(key["threads"])
    probe = MemoryProbe()
    out: dict[str, Any] = {"one_off": {}}

    phases.enter("import")
    cls = harness.import_backend(key["backend"], out["one_off"])
    probe.mark("import")

    phases.enter("convert")  # done by the parent (runner.stage): the file is opened here
    ref, spec, artifact = harness.model_of(job)
    out["one_off"]["conversion"] = dict(artifact.conversions)
    probe.mark("convert")

    phases.enter("load")
    options = harness.options_of(cls, key["options"], threads=1, device=key["device"])

    def new_session() -> Backend:
        return harness.load(cls, artifact, options)[0]

    first, out["one_off"]["load_s"] = harness.load(cls, artifact, options)
    sessions = [first]
    probe.mark("load")

    phases.enter("prepare")

    staged_inputs = list(job.get("inputs_paths") or [])

    def inputs(session: Backend, i: int) -> Any:
        path = staged_inputs[i] if i < len(staged_inputs) else None
        if path is not None:  # built by the parent (runner.stage) with seed + i
            with np.load(path) as staged:
                return session.prepare({k: staged[k] for k in staged.files})
        from hepinfer.zoo import build_inputs

        return session.prepare(build_inputs(ref, spec, key["batch"], key["dims"], key["seed"] + i))

    prepared = [inputs(sessions[0], 0)]
    probe.mark("prepare")
    harness.record_compile(sessions[0], out["one_off"])  # compiled in prepare, for these shapes

    phases.enter("inference")
    with harness.scope_of(sessions[0]):
        for _ in range(calls):
            sessions[0].run(prepared[0])
    probe.mark("inference")
    out["backend"] = {"settings": sessions[0].settings()}

    if n > 1:
        _threaded_phases(n, calls, cls.shareable, sessions, prepared, new_session, inputs, phases, probe)
    probe.close()
    out["memory"] = probe.summary()
    out["sessions"] = _sessions_summary(probe.summary(), n, cls.shareable)
    out["process"] = harness.process_section(job.get("parent_guard"))
    from hepinfer.measure.environment import environment

    phases.enter("environment")
    out["environment"] = environment(cls.packages)
    return out


def _threaded_phases(
    n: int,
    calls: int,
    shareable: bool,
    sessions: list[Any],
    prepared: list[Any],
    new_session: Callable[[], Any],
    inputs: Callable[[Any, int], Any],
    phases: Any,
    probe: Any,
) -> None:
    """N threads on the one shared session (each with its own inputs), then N-1 more sessions
    loaded and N threads each on its own: the phases ``shared``, ``load_sessions``, ``separate``.
    ``sessions`` and ``prepared`` hold the first session and its inputs; both grow to N."""
    phases.enter("shared")
    prepared += [inputs(sessions[0], i) for i in range(1, n)]

    def shared(i: int) -> None:
        for _ in range(calls):
            sessions[0].run(prepared[i])

    # A backend that is not safe to share is never called by two threads on one session:
    # its shared phase is left out (only one session per thread is measured).
    if shareable:
        _concurrently(n, shared)
    probe.mark("shared")

    phases.enter("load_sessions")
    sessions += [new_session() for _ in range(1, n)]
    probe.mark("load_sessions")

    phases.enter("separate")
    own = [prepared[0]] + [inputs(sessions[i], i) for i in range(1, n)]

    def separate(i: int) -> None:
        for _ in range(calls):
            sessions[i].run(own[i])

    _concurrently(n, separate)
    probe.mark("separate")


def _sessions_summary(mem: dict[str, Any], n: int, shareable: bool = True) -> dict[str, Any]:
    """Peaks with 1 and N threads, and the extra memory per thread, shared vs separate.

    For a backend that is not shareable the shared figures are None and ``shared_skipped``
    says why: its session was never called by two threads at once.
    """
    peak, rss = mem["peak"], mem["rss"]
    one = peak.get("inference")
    s: dict[str, Any] = {"threads": n, "peak_one_thread": one, "shareable": shareable}
    if n > 1 and not shareable:
        s["shared_skipped"] = "not shareable: one session is never called by two threads at once"
    if n > 1 and one is not None:
        s["peak_shared"] = peak.get("shared") if shareable else None
        s["peak_separate"] = max(peak.get("load_sessions", 0), peak.get("separate", 0)) or None
        s["session_bytes"] = (rss["load_sessions"] - rss["shared"]) / (n - 1)
        s["extra_per_thread_shared"] = (s["peak_shared"] - one) / (n - 1) if s["peak_shared"] else None
        s["extra_per_thread_separate"] = (s["peak_separate"] - one) / (n - 1) if s["peak_separate"] else None
    return s
