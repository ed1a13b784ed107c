"""The HEP event loop: framework threads calling inference sessions, event after event.

In CMSSW every framework thread calls one global session configured to make no threads of its
own (intra- and inter-op 1, sequential); the framework's scheduler owns the cores. This module
reproduces that, one configuration per fresh worker process
(``hepinfer.runner.eventloop_worker``), in three modes:

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
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError

MODES = ("shared", "per-thread", "intra-op")
STRATEGIES = ("per-event", "per-object")


@dataclass(frozen=True)
class Multiplicity:
    """Objects per event: Poisson(mean) clipped to [minimum, maximum]; fixed when all equal."""

    name: str
    mean: float
    minimum: int = 1
    maximum: int = 1

    def draw(self, rng: np.random.Generator) -> int:
        """One event's object count."""
        if self.minimum == self.maximum:
            return self.minimum
        return int(np.clip(rng.poisson(self.mean), self.minimum, self.maximum))

    def to_dict(self) -> dict[str, Any]:
        """For the record."""
        return asdict(self)


# Realistic shapes. AK4 jets (pT > 20-30 GeV) in ttbar: 4-8 typical, mean ~6.5, at least 2 in
# any selected event. AK8 jets (pT > 170-200 GeV) in QCD multijet: mostly 2, mean ~2.
DISTRIBUTIONS: dict[str, Multiplicity] = {
    "one": Multiplicity("one", 1.0, 1, 1),
    "ak4-ttbar": Multiplicity("ak4-ttbar", 6.5, 2, 20),
    "ak8-qcd": Multiplicity("ak8-qcd", 2.0, 1, 8),
}


def multiplicity(text: str) -> Multiplicity:
    """``one``, ``ak4-ttbar``, ``ak8-qcd``, ``fixed:K`` or ``poisson:MEAN[:MIN[:MAX]]``."""
    if text in DISTRIBUTIONS:
        return DISTRIBUTIONS[text]
    kind, _, rest = text.partition(":")
    parts = rest.split(":") if rest else []
    usage = (
        f"--objects {text}: use one of {', '.join(DISTRIBUTIONS)}, fixed:K or "
        "poisson:MEAN[:MIN[:MAX]] (e.g. poisson:6.5:2:20)"
    )
    try:
        if kind == "fixed" and len(parts) == 1:
            k = int(parts[0])
            dist = Multiplicity(text, float(k), k, k)
        elif kind == "poisson" and 1 <= len(parts) <= 3:
            mean = float(parts[0])
            low = int(parts[1]) if len(parts) > 1 else 1
            high = int(parts[2]) if len(parts) > 2 else max(low, int(mean + 6 * math.sqrt(mean) + 1))
            dist = Multiplicity(text, mean, low, high)
        else:
            raise ConfigurationError(usage)
    except ValueError:
        raise ConfigurationError(usage) from None
    if dist.minimum < 1 or dist.maximum < dist.minimum or dist.mean <= 0:
        raise ConfigurationError(f"--objects {text}: need 1 <= MIN <= MAX and MEAN > 0")
    return dist


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
    the_plan: EventLoopPlan, thread_env: Mapping[str, str] | None = None
) -> list[str]:
    """One line per configuration of the plan whose threads exceed this machine's usable cores."""
    cores = _usable_cores()
    env = os.environ if thread_env is None else thread_env
    out = []
    for config in the_plan.configs:
        warning = oversubscription(config, cores, env)
        if warning:
            out.append(f"{config.backend} {config.mode} N={config.threads}: {warning}")
    return out


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ----------------------------------------------------------------------------- parent side


def job_for(the_plan: EventLoopPlan, config: Config) -> dict[str, Any]:
    """The JSON job a worker runs for one configuration."""
    r = the_plan.request
    return {
        "model_ref": the_plan.ref.to_dict(),
        "backend": config.backend,
        "options": dict(r.options.get(config.backend, {})),
        "exporter": r.exporter,
        "dims": the_plan.dims,
        "seed": r.seed,
        "mode": config.mode,
        "threads": config.threads,
        "strategy": config.strategy,
        "multiplicity": the_plan.multiplicity.to_dict(),
        "events": r.events,
        "pool": r.pool,
        "warmup_events": r.warmup_events,
        "check_events": r.check_events,
        "max_time_s": r.max_time_s,
    }


def staged_fields(the_plan: EventLoopPlan, config: Config) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The parent's conversion for a configuration (``runner.stage``): job fields, or an error."""
    from hepinfer.results.schema import Key
    from hepinfer.runner.stage import stage_job

    key = Key(
        model=the_plan.ref.label,
        backend=config.backend,
        batch=1,
        threads=1,
        exporter=the_plan.request.exporter,
    )
    fields, _, failed = stage_job(the_plan.ref, the_plan.spec, key)
    return fields, failed


def interpreter_of(the_plan: EventLoopPlan, config: Config, fields: dict[str, Any]) -> str | None:
    """The Python the configuration's worker runs under (the backend's venv, or None: this one)."""
    from hepinfer.runner.stage import backend_interpreter

    return backend_interpreter(config.backend, the_plan.ref, the_plan.spec, fields, the_plan.request.exporter)


def record_key(the_plan: EventLoopPlan, config: Config) -> dict[str, Any]:
    """The record's key: the bench Key fields plus what makes an event-loop configuration.

    ``threads`` is N (framework threads, or intra-op threads in intra-op mode); ``batch`` is
    the objects per call when fixed, 0 when it varies per event.
    """
    from hepinfer.results.schema import Key

    dist = the_plan.multiplicity
    fixed = dist.minimum if dist.minimum == dist.maximum else 0
    batch = 1 if config.strategy == "per-object" else fixed
    r = the_plan.request
    key = Key(
        model=the_plan.ref.label,
        backend=config.backend,
        batch=batch,
        threads=config.threads,
        options=dict(r.options.get(config.backend, {})),
        dims=the_plan.dims,
        model_params=dict(the_plan.ref.params),
        exporter=r.exporter,
        seed=r.seed,
    ).to_dict()
    key.update(mode=config.mode, strategy=config.strategy, objects=dist.name, events=r.events)
    return key


def run(
    request: EventLoopRequest,
    out: Path | None = None,
    on_start: Callable[[int, int, Config], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    keep_workdir: Path | None = None,
) -> list[dict[str, Any]]:
    """Run every configuration in its own worker; append each record to ``out`` when given."""
    from hepinfer.results import jsonl
    from hepinfer.runner.launch import run_job

    the_plan = plan(request)
    run_id = uuid.uuid4().hex[:12]
    workdir = keep_workdir or Path(tempfile.mkdtemp(prefix="hepinfer-eventloop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    # (backend, strategy) -> the 1-thread record and its outputs: the baseline of the others.
    baseline: dict[tuple[str, str], tuple[dict[str, Any], Path]] = {}
    try:
        for i, config in enumerate(the_plan.configs):
            if on_start is not None:
                on_start(i, len(the_plan.configs), config)
            name = f"el{i:04d}"
            fields, failed = staged_fields(the_plan, config)
            result = failed or run_job(
                {**job_for(the_plan, config), **fields},
                workdir,
                name,
                request.timeout_s,
                module="hepinfer.runner.eventloop_worker",
                python=None if failed else interpreter_of(the_plan, config, fields),
            )
            record = _record(the_plan, config, run_id, result)
            npz = workdir / f"{name}.npz"
            base = baseline.get((config.backend, config.strategy))
            if config.threads == 1 and record["status"] == "ok":
                baseline[(config.backend, config.strategy)] = (record, npz)
            elif base is not None and record["status"] == "ok":
                _compare_with(record, base[0], base[1], npz)
            if out is not None:
                jsonl.append(out, record)
            records.append(record)
            if on_record is not None:
                on_record(record)
    finally:
        if keep_workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return records


def _record(the_plan: EventLoopPlan, config: Config, run_id: str, result: dict[str, Any]) -> dict[str, Any]:
    from hepinfer.measure.stats import summarize
    from hepinfer.results.schema import Key, new_record

    record = new_record(Key(model="", backend="", batch=0, threads=0), run_id)
    record["kind"] = "eventloop"
    record["key"] = record_key(the_plan, config)
    record["model"] = {
        "ref": the_plan.ref.to_dict(),
        "inputs": [t.describe() for t in the_plan.spec.inputs],
        "outputs": [t.describe() for t in the_plan.spec.outputs],
    }
    record["eventloop"] = {
        "mode": config.mode,
        "equivalent_modes": list(config.equivalent_modes or (config.mode,)),
        "framework_threads": config.framework_threads,
        "backend_threads": config.backend_threads,
        "sessions": config.sessions,
        "strategy": config.strategy,
        "multiplicity": the_plan.multiplicity.to_dict(),
        "events_requested": the_plan.request.events,
        "pool": the_plan.request.pool,
    }
    record["warnings"] = []
    if result["status"] != "ok":
        record["status"] = "error"
        record["error"] = result["error"]
        return record
    for name in ("samples_ns", "timing", "one_off", "memory", "backend", "environment", "process"):
        record[name] = result.get(name, record.get(name))
    record["eventloop"].update(result["eventloop"])
    record["event_ns"] = result["event_ns"]
    loop = record["eventloop"]
    record["stats"] = {
        "call": summarize(record["samples_ns"], 1),
        "event": summarize(record["event_ns"], 1),
        "events_per_s": loop["events_processed"] / loop["wall_s"],
        "calls_per_s": loop["calls"] / loop["wall_s"],
        "objects_per_s": loop["objects"] / loop["wall_s"],
        "cpu_utilisation": loop["cpu_s"] / loop["wall_s"],
        "speedup": None,
        "scaling_efficiency": None,
    }
    if loop["events_processed"] != the_plan.request.events:
        why = "the time cap stopped the loop" if the_plan.request.max_time_s else "events lost"
        record["warnings"].append(
            f"processed {loop['events_processed']} of {the_plan.request.events} events: {why}"
        )
    env = record["environment"]
    cores = int(env.get("cpu", {}).get("usable_cores") or _usable_cores())
    warning = oversubscription(config, cores, env.get("thread_env", {}))
    if warning:
        record["warnings"].append(warning)
    return record


def _compare_with(record: dict[str, Any], base: dict[str, Any], base_npz: Path, npz: Path) -> None:
    """Scaling against the 1-thread record, and outputs against its outputs (bit for bit)."""
    from hepinfer.measure.agreement import compare

    speedup = record["stats"]["events_per_s"] / base["stats"]["events_per_s"]
    record["stats"]["speedup"] = speedup
    record["stats"]["scaling_efficiency"] = speedup / record["key"]["threads"]
    if not (base_npz.exists() and npz.exists()):
        return
    with np.load(base_npz) as r, np.load(npz) as g:
        ref, got = dict(r), dict(g)
    common = sorted(set(ref) & set(got))
    agreement = compare({k: ref[k] for k in common}, {k: got[k] for k in common})
    agreement.pop("outputs")  # one entry per event and call: the verdict says enough
    agreement["reference"] = {"threads": 1, "mode": base["key"]["mode"]}
    agreement["compared"] = len(common)
    agreement["bitwise_equal"] = all(_same_bits(ref[k], got[k]) for k in common)
    record["agreement"] = agreement


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
