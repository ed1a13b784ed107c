"""The HEP event loop: framework threads calling inference sessions, event after event.

In CMSSW every framework thread calls one global session configured to make no threads of its
own (intra- and inter-op 1, sequential); the framework's scheduler owns the cores. This module
reproduces that, one configuration per fresh worker process
(``hepinfer.runner.eventloop_worker``; its records are built in ``eventloop_record``), in
three modes:

- ``shared``: N Python threads, one session with 1 backend thread (CMSSW);
- ``per-thread``: N Python threads, one session each (1 backend thread each);
- ``intra-op``: one thread calling one session that has N intra-op threads.

Each event holds a number of objects (jets) drawn from a seeded distribution; the objects are
inferred one call per object (``per-object``) or in one batched call per event
(``per-event``). Thread i processes events i, i+N, i+2N, ...: exactly the events asked for,
each with the same content in every configuration, so outputs can be compared bit for bit.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.runner.multiplicity import DISTRIBUTIONS, Multiplicity, multiplicity

__all__ = [
    "DISTRIBUTIONS",
    "MODES",
    "STRATEGIES",
    "Config",
    "EventLoopPlan",
    "EventLoopRequest",
    "Multiplicity",
    "job_for",
    "multiplicity",
    "oversubscription",
    "oversubscription_warnings",
    "plan",
    "run_eventloop",
    "staged_fields",
    "usable_core_count",
]

MODES = ("shared", "per-thread", "intra-op")
STRATEGIES = ("per-event", "per-object")


@dataclass(frozen=True)
class EventLoopRequest:
    """What a user asked for; the lists are the axes of the grid."""

    model: str
    backends: Sequence[str] = ("onnxruntime",)
    threads: Sequence[int] = (1, 2)
    modes: Sequence[str] = MODES
    events: int = 1000
    objects: str = "one"
    strategies: Sequence[str] = ("per-event",)
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    # backend -> option -> value (one value each: the event loop's axes are modes and threads).
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    # Distinct events whose inputs are prepared up front; event e reuses slot e % pool.
    pool: int = 64
    # Untimed events each thread processes before the clock starts.
    warmup_events: int = 5
    # Events whose outputs are kept and compared with the 1-thread configuration's.
    check_events: int = 16
    # A cap on the timed loop, s: each thread stops after its events or at the cap, whichever
    # comes first (the record says how many were processed). None: no cap.
    max_time_s: float | None = None
    timeout_s: float = 900.0


@dataclass(frozen=True)
class Config:
    """One configuration: one worker process."""

    backend: str
    mode: str
    threads: int
    strategy: str
    # At 1 thread the three modes are the same configuration; it runs once for all of them.
    equivalent_modes: tuple[str, ...] = ()

    @property
    def backend_threads(self) -> int:
        """Intra-op threads of each session."""
        return self.threads if self.mode == "intra-op" else 1

    @property
    def framework_threads(self) -> int:
        """Python threads calling the session(s)."""
        return 1 if self.mode == "intra-op" else self.threads

    @property
    def sessions(self) -> int:
        """Sessions loaded."""
        return self.threads if self.mode == "per-thread" else 1


@dataclass
class EventLoopPlan:
    """The checked request and its configurations in running order (1 thread first)."""

    request: EventLoopRequest
    ref: Any
    spec: Any
    dims: dict[str, int]
    multiplicity: Multiplicity
    configs: list[Config]
    notes: list[str]


def plan(request: EventLoopRequest) -> EventLoopPlan:
    """Check everything that can be checked without a framework; lay out the configurations."""
    from hepinfer.backends.registry import backend_class, check_name
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    dist = multiplicity(request.objects)
    if request.max_time_s is not None and request.max_time_s <= 0:
        raise ConfigurationError(f"--max-time {request.max_time_s}: must be positive")
    if request.events < 1:
        raise ConfigurationError(f"--events {request.events}: process at least 1 event")
    threads = sorted(set(request.threads))
    if not threads or threads[0] < 1:
        raise ConfigurationError(f"--threads {','.join(map(str, request.threads))}: use 1 or more")
    axes = ((request.modes, MODES, "--mode"), (request.strategies, STRATEGIES, "--strategy"))
    for given, allowed, flag in axes:
        if not given or any(m not in allowed for m in given):
            raise ConfigurationError(f"{flag} {','.join(given)}: choose from {', '.join(allowed)}")
    strategies = list(dict.fromkeys(request.strategies))
    if dist.minimum == dist.maximum == 1:
        strategies = strategies[:1]  # one object per event: both strategies are the same
    for s in strategies:
        sizes = {1} if s == "per-object" else {dist.minimum, dist.maximum}
        for n in sorted(sizes):
            try:
                spec.check_batch(n)
            except ConfigurationError as err:
                raise ConfigurationError(f"--strategy {s} with --objects {dist.name}: {err}") from None
    backends = [check_name(b) for b in request.backends]
    if not backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime")
    for b, values in request.options.items():
        if b not in backends:
            raise ConfigurationError(
                f"--option {b}.…: backend {b} is not among --backend {','.join(backends)}"
            )
        backend_class(b).Options.from_strings(b, values)  # refuses unknown options now
    modes = list(dict.fromkeys(request.modes))
    notes: list[str] = []
    configs: list[Config] = []
    for b, s in itertools.product(backends, strategies):
        cls = backend_class(b)
        usable = [m for m in modes if m != "shared" or cls.shareable]
        if len(usable) < len(modes):
            notes.append(f"{b}: sessions not safe to share between threads; shared mode skipped")
        if not usable:
            continue
        for t in threads:
            if t == 1:
                configs.append(Config(b, usable[0], 1, s, tuple(usable)))
            else:
                configs.extend(Config(b, m, t, s) for m in usable)
    return EventLoopPlan(request, ref, spec, dims, dist, configs, notes)


def oversubscription(config: Config, usable_cores: int, thread_env: Mapping[str, str]) -> str | None:
    """A warning when the threads this configuration runs exceed the usable cores."""
    backend = config.backend_threads
    # A BLAS/OpenMP pool sized by the environment runs inside every calling thread.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = thread_env.get(var, "")
        if value.isdigit():
            backend = max(backend, int(value))
    total = backend * config.framework_threads
    if total <= usable_cores:
        return None
    return (
        f"oversubscribed: {config.framework_threads} framework thread(s) x {backend} backend "
        f"thread(s) = {total} > {usable_cores} usable cores; timings measure contention"
    )


def oversubscription_warnings(
    loop_plan: EventLoopPlan, thread_env: Mapping[str, str] | None = None
) -> list[str]:
    """One line per configuration of the plan whose threads exceed this machine's usable cores."""
    cores = usable_core_count()
    env = os.environ if thread_env is None else thread_env
    out = []
    for config in loop_plan.configs:
        warning = oversubscription(config, cores, env)
        if warning:
            out.append(f"{config.backend} {config.mode} N={config.threads}: {warning}")
    return out


def usable_core_count() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ----------------------------------------------------------------------------- parent side


def job_for(loop_plan: EventLoopPlan, config: Config) -> dict[str, Any]:
    """The JSON job a worker runs for one configuration."""
    r = loop_plan.request
    return {
        "model_ref": loop_plan.ref.to_dict(),
        "backend": config.backend,
        "options": dict(r.options.get(config.backend, {})),
        "exporter": r.exporter,
        "dims": loop_plan.dims,
        "seed": r.seed,
        "mode": config.mode,
        "threads": config.threads,
        "strategy": config.strategy,
        "multiplicity": loop_plan.multiplicity.to_dict(),
        "events": r.events,
        "pool": r.pool,
        "warmup_events": r.warmup_events,
        "check_events": r.check_events,
        "max_time_s": r.max_time_s,
    }


def staged_fields(loop_plan: EventLoopPlan, config: Config) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The parent's conversion for a configuration (``runner.stage``): job fields, or an error."""
    from hepinfer.results.schema import Key
    from hepinfer.runner.stage import stage_job

    key = Key(
        model=loop_plan.ref.label,
        backend=config.backend,
        batch=1,
        threads=1,
        exporter=loop_plan.request.exporter,
    )
    fields, _, failed = stage_job(loop_plan.ref, loop_plan.spec, key)
    if not failed:
        fields = {**fields, "pool_inputs_path": _staged_pool(loop_plan, config)}
    return fields, failed


_POOLS: dict[str, str | None] = {}


def _staged_pool(loop_plan: EventLoopPlan, config: Config) -> str | None:
    """The configuration's pool of events written once per run to an .npz the worker loads
    (bitwise what the worker's ``slot_inputs`` gives); None where the builder fails."""
    import json

    import numpy as np

    from hepinfer.runner.eventloop_worker import framework_threads_of, pool_inputs, pool_size

    r = loop_plan.request
    pool = pool_size(r.pool, r.events, framework_threads_of(config.mode, config.threads))
    slot = json.dumps(
        [loop_plan.ref.to_dict(), loop_plan.dims, r.seed, pool, loop_plan.multiplicity.to_dict()],
        sort_keys=True,
        default=str,
    )
    if slot not in _POOLS:
        try:
            built = pool_inputs(
                loop_plan.ref, loop_plan.spec, loop_plan.dims, loop_plan.multiplicity, r.seed, pool
            )
        except Exception:  # the worker builds them itself and reports the builder's error
            _POOLS[slot] = None
            return None
        import os
        import tempfile

        from hepinfer.runner.stage import inputs_dir

        fd, name = tempfile.mkstemp(prefix="pool-", suffix=".npz", dir=inputs_dir())
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **built)  # type: ignore[arg-type]
        _POOLS[slot] = name
    return _POOLS[slot]


def interpreter_of(loop_plan: EventLoopPlan, config: Config, fields: dict[str, Any]) -> str | None:
    """The Python the configuration's worker runs under (the backend's venv, or None: this one)."""
    from hepinfer.runner.stage import backend_interpreter

    exporter = loop_plan.request.exporter
    return backend_interpreter(config.backend, loop_plan.ref, loop_plan.spec, fields, exporter)


def run_eventloop(
    request: EventLoopRequest,
    out: Path | None = None,
    on_start: Callable[[int, int, Config], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    keep_workdir: Path | None = None,
) -> list[dict[str, Any]]:
    """Run every configuration in its own worker; append each record to ``out`` when given."""
    from hepinfer.runner.eventloop_record import compare_with_baseline, record_of
    from hepinfer.runner.launch import run_job
    from hepinfer.runner.records import RecordSink

    loop_plan = plan(request)
    run_id = uuid.uuid4().hex[:12]
    workdir = keep_workdir or Path(tempfile.mkdtemp(prefix="hepinfer-eventloop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sink = RecordSink(out, on_record)
    # (backend, strategy) -> the 1-thread record and its outputs: the baseline of the others.
    baseline: dict[tuple[str, str], tuple[dict[str, Any], Path]] = {}
    try:
        for i, config in enumerate(loop_plan.configs):
            if on_start is not None:
                on_start(i, len(loop_plan.configs), config)
            name = f"el{i:04d}"
            fields, failed = staged_fields(loop_plan, config)
            result = failed or run_job(
                {**job_for(loop_plan, config), **fields},
                workdir,
                name,
                request.timeout_s,
                module="hepinfer.runner.eventloop_worker",
                python=None if failed else interpreter_of(loop_plan, config, fields),
            )
            record = record_of(loop_plan, config, run_id, result)
            npz = workdir / f"{name}.npz"
            base = baseline.get((config.backend, config.strategy))
            if config.threads == 1 and record["status"] == "ok":
                baseline[(config.backend, config.strategy)] = (record, npz)
            elif base is not None and record["status"] == "ok":
                compare_with_baseline(record, base[0], base[1], npz)
            sink.add(record)
    finally:
        if keep_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return sink.records
