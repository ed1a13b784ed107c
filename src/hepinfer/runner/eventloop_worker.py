"""The event loop's worker: ``python -m hepinfer.runner.eventloop_worker JOB.json``.

One configuration of ``hepinfer.runner.eventloop`` in a fresh process: import, convert, load
the session(s), prepare each thread's pool of events (untimed), then N framework threads
process their events back to back, two clock reads around each call. The outputs of the first
events are kept so the parent can compare them bit for bit with the 1-thread configuration's.
LoadGen's worker (``hepinfer.runner.loadgen_worker``) reuses ``setup``.
"""

from __future__ import annotations

import math
import resource
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.runner.multiplicity import Multiplicity


def slot_inputs(
    ref: Any, spec: Any, dims: Mapping[str, int], dist: Multiplicity, seed: int, slot: int
) -> dict[str, np.ndarray]:
    """Inputs of pool slot ``slot``: all its objects in one batch, the same in every process."""
    from hepinfer.zoo import build_inputs

    state = np.random.SeedSequence([seed, slot]).generate_state(2)
    n = dist.draw(np.random.default_rng(int(state[0])))
    return build_inputs(ref, spec, n, dims, int(state[1]))


def framework_threads_of(mode: str, n_threads: int) -> int:
    """Framework threads of a mode: one for intra-op (the backend's own threads), else N."""
    return 1 if mode == "intra-op" else n_threads


def pool_size(pool: int, events: int, framework_threads: int) -> int:
    """Distinct events prepared up front: at most ``events``, a multiple of the threads."""
    pool = min(pool, events)
    return framework_threads * math.ceil(pool / framework_threads)


def pool_inputs(
    ref: Any, spec: Any, dims: Mapping[str, int], dist: Multiplicity, seed: int, pool: int
) -> dict[str, np.ndarray]:
    """Every pool slot's inputs in one mapping (``SLOT:NAME``), as the parent stages them."""
    return {
        f"{slot}:{name}": value
        for slot in range(pool)
        for name, value in slot_inputs(ref, spec, dims, dist, seed, slot).items()
    }


def _staged_slots(path: str) -> list[dict[str, np.ndarray]]:
    """The slots of a staged pool file, in slot order."""
    slots: dict[int, dict[str, np.ndarray]] = {}
    with np.load(path) as staged:
        for key in staged.files:
            slot, name = key.split(":", 1)
            slots.setdefault(int(slot), {})[name] = staged[key]
    return [slots[s] for s in sorted(slots)]


def object_count(spec: Any, inputs: Mapping[str, np.ndarray]) -> int:
    """Objects in a batched input set: the size of its batch axis."""
    axes = {t.name: t.batch_axis for t in spec.inputs}
    return next((int(v.shape[axes[k]]) for k, v in inputs.items() if axes[k] is not None), 1)


def split_objects(spec: Any, inputs: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One batch-1 input set per object (inputs without a batch axis are passed whole)."""
    axes = {t.name: t.batch_axis for t in spec.inputs}
    n = object_count(spec, inputs)
    return [
        {k: (v if axes[k] is None else np.take(v, [j], axis=axes[k])) for k, v in inputs.items()}
        for j in range(n)
    ]


class _Loop:
    """The threads of one configuration and what each measured."""

    def __init__(self, n_threads: int) -> None:
        self.calls_ns: list[list[int]] = [[] for _ in range(n_threads)]
        self.event_ns: list[list[int]] = [[] for _ in range(n_threads)]
        self.events = [0] * n_threads
        self.objects = [0] * n_threads
        self.ends = [0.0] * n_threads
        # Process CPU time (user + system, s) when each thread finished its events.
        self.cpu_ends = [0.0] * n_threads
        self.errors: list[BaseException] = []
        self.kept: dict[str, Any] = {}


@dataclass
class Setup:
    """A configuration made ready to run: sessions loaded, each thread's inputs prepared."""

    cls: Any
    spec: Any
    sessions: list[Any]
    framework_threads: int
    # prepared[i][slot]: thread i's prepared calls of a pool slot (one per object, or one).
    prepared: list[dict[int, list[Any]]]
    n_objects: list[int]
    pool: int

    def session(self, i: int) -> Any:
        """The session thread i calls."""
        return self.sessions[i] if len(self.sessions) > 1 else self.sessions[0]


def setup(job: dict[str, Any], phases: Any, out: dict[str, Any], every_slot: bool = False) -> Setup:
    """Import, convert, load the session(s), prepare the pool: the untimed part of a worker.

    Slot s belongs to thread s % T (``every_slot``: to every thread). With a pool that is a
    multiple of T, thread i's events (i, i+T, ...) only touch its own slots, so prepared
    inputs (I/O bindings) are never used by two threads at once.

    ``one_off.compile_s`` is the first session's compilation in preparing slot 0, the inputs
    of the first call (``one_off.first_call_ns``), as ``load_s`` is the first session's load:
    the three add up. Other sessions, and shapes of other slots where a backend compiles per
    shape (OpenVINO's static shapes), compile in this untimed phase too and are not in it.
    """
    from hepinfer.measure.memory import rss_bytes as _rss
    from hepinfer.runner import harness

    mode, n_threads, strategy = job["mode"], int(job["threads"]), job["strategy"]
    dist = Multiplicity(**job["multiplicity"])
    mem = out["memory"]
    mem["rss_start"] = _rss()

    phases.enter("import")
    cls = harness.import_backend(job["backend"], out["one_off"])
    if mode == "shared" and not cls.shareable:
        raise ConfigurationError(f"backend {cls.name} cannot share a session between threads")
    mem["rss_after_import"] = _rss()

    phases.enter("convert")  # done by the parent (runner.stage): the file is opened here
    ref, spec, artifact = harness.model_of(job)
    out["one_off"]["conversion"] = artifact.conversions
    mem["rss_after_convert"] = _rss()

    phases.enter("load")
    backend_threads = n_threads if mode == "intra-op" else 1
    framework_threads = framework_threads_of(mode, n_threads)
    options = harness.options_of(cls, job["options"], backend_threads)
    sessions = []
    load_s = []
    after_each: list[int] = []
    for _ in range(n_threads if mode == "per-thread" else 1):
        backend, seconds = harness.load(cls, artifact, options)
        load_s.append(seconds)
        sessions.append(backend)
        after_each.append(_rss())
    out["one_off"]["load_s"] = load_s[0]
    out["one_off"]["load_s_all"] = load_s
    mem["rss_after_load"] = _rss()
    mem["rss_per_session"] = (mem["rss_after_load"] - mem["rss_after_convert"]) / len(sessions)
    # The first session also pays the framework's one-off set-up; the others show what one
    # more session costs (what per-thread mode pays and shared mode saves).
    mem["rss_after_each_load"] = after_each
    if len(after_each) > 1:
        mem["rss_extra_session"] = (after_each[-1] - after_each[0]) / (len(after_each) - 1)

    phases.enter("prepare")
    pool = pool_size(int(job["pool"]), int(job["events"]), framework_threads)
    ready = Setup(cls, spec, sessions, framework_threads, [{} for _ in range(framework_threads)], [], pool)
    # The parent staged the pool (no input builder, numpy.random or zoo catalog here); a pool
    # it could not build is built here, and its builder's error reported.
    staged = _staged_slots(job["pool_inputs_path"]) if job.get("pool_inputs_path") else None
    for s in range(pool):
        if staged is not None and len(staged) == pool:
            inputs = staged[s]
        else:
            inputs = slot_inputs(ref, spec, job["dims"], dist, int(job["seed"]), s)
        calls = split_objects(spec, inputs) if strategy == "per-object" else [inputs]
        owners = range(framework_threads) if every_slot else [s % framework_threads]
        for i in owners:
            session = ready.session(i)
            ready.prepared[i][s] = [session.prepare(c) for c in calls]
        ready.n_objects.append(object_count(spec, inputs))
        if s == 0:  # the first session's compilation for the first call's shapes (see setup)
            harness.record_compile(sessions[0], out["one_off"])
    mem["rss_after_prepare"] = _rss()
    return ready


def execute(job: dict[str, Any], phases: Any) -> dict[str, Any]:
    """Run one event-loop configuration in this process; the worker's part of the record."""
    from hepinfer.measure.environment import environment
    from hepinfer.measure.memory import hwm_bytes as _peak_rss
    from hepinfer.measure.memory import rss_bytes as _rss
    from hepinfer.runner import harness

    out: dict[str, Any] = {"one_off": {}, "memory": {}, "timing": {}}
    ready = setup(job, phases, out)
    cls, sessions = ready.cls, ready.sessions

    phases.enter("first_call")
    _, out["one_off"]["first_call_ns"] = harness.first_call(sessions[0], ready.prepared[0][0][0], lambda: "")

    phases.enter("eventloop")
    loop, start, cpu0 = _timed_loop(job, ready)
    wall = max(loop.ends) - start
    out["memory"]["rss_after_run"] = _rss()
    out["memory"]["peak_rss"] = _peak_rss()
    if loop.kept:
        _save_outputs(loop, sessions, job["outputs_path"])

    out["samples_ns"] = [x for per in loop.calls_ns for x in per]
    out["event_ns"] = [x for per in loop.event_ns for x in per]
    out["eventloop"] = {
        "events_processed": sum(loop.events),
        "events_per_thread": loop.events,
        "calls": len(out["samples_ns"]),
        "objects": sum(loop.objects),
        "objects_per_event_mean": sum(loop.objects) / max(1, sum(loop.events)),
        "pool": ready.pool,
        "warmup_events_per_thread": int(job["warmup_events"]),
        "wall_s": wall,
        "thread_wall_s": [end - start for end in loop.ends],
        # CPU used by the whole process (backend pools included) until the last thread
        # finished: not the idle spinning of thread pools that follows.
        "cpu_s": loop.cpu_ends[loop.ends.index(max(loop.ends))] - cpu0,
    }
    out["backend"] = {"settings": sessions[0].settings(), "shareable": cls.shareable}
    out["process"] = harness.process_section(job.get("parent_guard"))
    phases.enter("environment")
    out["environment"] = environment(cls.packages)
    return out


def _timed_loop(job: dict[str, Any], ready: Setup) -> tuple[_Loop, float, float]:
    """The framework threads: each warms up on its first events, all wait for one another,
    then each processes its events timed. Returns what they measured and the clock's start
    (perf_counter s) and the process CPU time then; re-raises the first thread's failure."""
    from hepinfer.runner import harness

    n_events, framework_threads, pool = int(job["events"]), ready.framework_threads, ready.pool
    check_events, warmup = int(job["check_events"]), int(job["warmup_events"])
    cap = job.get("max_time_s")
    loop = _Loop(framework_threads)
    clock: dict[str, float] = {}

    def start_clock() -> None:
        # Run by one thread once all have warmed up, before any is released.
        clock["cpu0"] = _cpu_s()
        clock["start"] = time.perf_counter()

    barrier = threading.Barrier(framework_threads, action=start_clock)

    def work(i: int) -> None:
        try:
            session = ready.session(i)
            with harness.scope_of(session):
                events_of(i, session)
        except threading.BrokenBarrierError:
            pass  # another thread failed; its error is raised
        except BaseException as err:
            loop.errors.append(err)
            barrier.abort()

    def events_of(i: int, session: Any) -> None:
        run = session.run
        prepared = ready.prepared[i]
        sync = session.synchronize if ready.cls.needs_sync else None
        mine = range(i, n_events, framework_threads)
        for e in list(mine)[:warmup]:  # untimed, and not counted
            for p in prepared[e % pool]:
                run(p)
        barrier.wait()
        deadline = None if cap is None else time.perf_counter_ns() + int(cap * 1e9)
        _events(loop, i, mine, prepared, ready.n_objects, pool, run, sync, check_events, deadline)
        loop.ends[i] = time.perf_counter()
        loop.cpu_ends[i] = _cpu_s()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"framework-{i}") for i in range(framework_threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if loop.errors:
        raise loop.errors[0]
    return loop, clock["start"], clock["cpu0"]


def _save_outputs(loop: _Loop, sessions: list[Any], path: str) -> None:
    """The kept outputs, fetched by the session that made them, as one .npz (event.call.output)."""
    by_session = {id(s): s for s in sessions}
    arrays: dict[str, np.ndarray] = {}
    for label, (sid, p, raw) in sorted(loop.kept.items()):
        for name, value in by_session[sid].fetch(p, raw).items():
            arrays[f"{label}.{name}"] = value
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _events(
    loop: _Loop,
    i: int,
    mine: range,
    prepared: dict[int, list[Any]],
    n_objects: list[int],
    pool: int,
    run: Callable[[Any], Any],
    sync: Callable[[], None] | None,
    check_events: int,
    deadline_ns: int | None = None,
) -> None:
    """Thread i's timed events, back to back: two clock reads around each call."""
    pc = time.perf_counter_ns
    calls = loop.calls_ns[i]
    events = loop.event_ns[i]
    owner = id(getattr(run, "__self__", None))
    objects = 0
    for e in mine:
        keep = e < check_events
        t_event = pc()
        for j, p in enumerate(prepared[e % pool]):
            t0 = pc()
            raw = run(p)
            if sync is not None:
                sync()
            t1 = pc()
            calls.append(t1 - t0)
            if keep:
                loop.kept[f"e{e:06d}.c{j:03d}"] = (owner, p, raw)
        t_end = pc()
        events.append(t_end - t_event)
        objects += n_objects[e % pool]
        if deadline_ns is not None and t_end > deadline_ns:
            break  # checked after an event, so each thread processes at least one
    loop.events[i] = len(events)
    loop.objects[i] = objects


def main(argv: list[str]) -> int:
    """``python -m hepinfer.runner.eventloop_worker JOB.json``: the worker's phases and errors."""
    from pathlib import Path

    from hepinfer.runner.protocol import serve

    return serve(Path(argv[1]), execute)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
