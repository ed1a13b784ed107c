"""The event loop's records: the key of a configuration, the record built from its worker's
result, and the comparison of an N-thread record with its 1-thread baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.runner.eventloop import Config, EventLoopPlan, oversubscription, usable_core_count
from hepinfer.runner.records import take_result


def record_key(loop_plan: EventLoopPlan, config: Config) -> dict[str, Any]:
    """The record's key: the bench Key fields plus what makes an event-loop configuration.

    ``threads`` is N (framework threads, or intra-op threads in intra-op mode); ``batch`` is
    the objects per call when fixed, 0 when it varies per event.
    """
    from hepinfer.results.schema import Key

    dist = loop_plan.multiplicity
    fixed = dist.minimum if dist.minimum == dist.maximum else 0
    batch = 1 if config.strategy == "per-object" else fixed
    r = loop_plan.request
    key = Key(
        model=loop_plan.ref.label,
        backend=config.backend,
        batch=batch,
        threads=config.threads,
        options=dict(r.options.get(config.backend, {})),
        dims=loop_plan.dims,
        model_params=dict(loop_plan.ref.params),
        exporter=r.exporter,
        seed=r.seed,
    ).to_dict()
    key.update(mode=config.mode, strategy=config.strategy, objects=dist.name, events=r.events)
    return key


def record_of(
    loop_plan: EventLoopPlan, config: Config, run_id: str, result: dict[str, Any]
) -> dict[str, Any]:
    """The record of one configuration from its worker's result (an error record when it failed)."""
    from hepinfer.measure.stats import summarize
    from hepinfer.results.schema import Key, new_record

    record = new_record(Key(model="", backend="", batch=0, threads=0), run_id)
    record["kind"] = "eventloop"
    record["key"] = record_key(loop_plan, config)
    record["model"] = {
        "ref": loop_plan.ref.to_dict(),
        "inputs": [t.describe() for t in loop_plan.spec.inputs],
        "outputs": [t.describe() for t in loop_plan.spec.outputs],
    }
    record["eventloop"] = {
        "mode": config.mode,
        "equivalent_modes": list(config.equivalent_modes or (config.mode,)),
        "framework_threads": config.framework_threads,
        "backend_threads": config.backend_threads,
        "sessions": config.sessions,
        "strategy": config.strategy,
        "multiplicity": loop_plan.multiplicity.to_dict(),
        "events_requested": loop_plan.request.events,
        "pool": loop_plan.request.pool,
    }
    record["warnings"] = []
    sections = ("samples_ns", "timing", "one_off", "memory", "backend", "environment", "process")
    if not take_result(record, result, sections):
        return record
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
    if loop["events_processed"] != loop_plan.request.events:
        why = "the time cap stopped the loop" if loop_plan.request.max_time_s else "events lost"
        record["warnings"].append(
            f"processed {loop['events_processed']} of {loop_plan.request.events} events: {why}"
        )
    env = record["environment"]
    cores = int(env.get("cpu", {}).get("usable_cores") or usable_core_count())
    warning = oversubscription(config, cores, env.get("thread_env", {}))
    if warning:
        record["warnings"].append(warning)
    return record


def compare_with_baseline(record: dict[str, Any], base: dict[str, Any], base_npz: Path, npz: Path) -> None:
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
