"""A sweep: a grid of bench requests read from a YAML file, resumable, local or on Dask.

The configuration is checked against ``hepinfer/schemas/sweep.schema.json`` (errors name the
key and its line), then every model's request is planned (so a bad name or batch fails before
anything runs). The work is cut into *groups*, one per model, device and batch size: a group
holds its reference configuration, so it can run anywhere and still compute agreement.
Locally the groups run one after the other in this process; with a Dask scheduler each
group is a task that needs the worker resource ``benchmark=1``, so a worker measures one thing
at a time. Records are appended whole as soon as they exist; ``resume`` skips every key the
results file already holds.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hepinfer._optional import require
from hepinfer.errors import ConfigurationError, HepinferError, ResultsError, first_line
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results import jsonl
from hepinfer.results.schema import Key
from hepinfer.runner import bench, sweep_config

# Dask worker resource a benchmark task holds: start workers with ``--resources benchmark=1``.
RESOURCE = "benchmark"
_GRID_KEYS = sweep_config.GRID_KEYS


def schema() -> dict[str, Any]:
    """The published JSON Schema of a sweep configuration."""
    text = resources.files("hepinfer").joinpath("schemas/sweep.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass
class Group:
    """One model at one device and batch size: the unit of work, with its reference inside.

    It holds its part of the model's plan, so that running it (here or in a Dask task) plans
    nothing again.
    """

    plan: bench.Plan

    @property
    def request(self) -> bench.BenchRequest:
        """The request at this group's batch size."""
        return self.plan.request

    @property
    def keys(self) -> list[Key]:
        """The configurations of the group, reference first."""
        return self.plan.keys

    def label(self) -> str:
        """``event_vae batch 16 on cpu``."""
        k = self.keys[0]
        return f"{k.model} batch {k.batch} on {k.device}"


@dataclass
class Sweep:
    """A checked configuration: its name, output file and the groups in running order."""

    name: str
    source: Path
    out: Path | None
    groups: list[Group] = field(default_factory=list)

    @property
    def keys(self) -> list[Key]:
        """Every configuration of the sweep."""
        return [k for g in self.groups for k in g.keys]


# ---------------------------------------------------------------------------------------------
# Reading and checking the configuration


def load(path: Path, policy_overrides: Mapping[str, Any] | None = None) -> Sweep:
    """Read, validate and plan a sweep configuration.

    Every mistake of the file is reported at once, one ``FILE:LINE: key: what; fix`` line each
    (``sweep_config.check``), in one ConfigurationError, before anything runs.
    """
    data, root = sweep_config.read(path)
    check(data, path, root)
    return _build(data, path, root, policy_overrides or {})


def check(data: Any, path: Path, root: Any = None) -> None:
    """Validate a configuration: one ConfigurationError listing every problem, one per line."""
    sweep_config.check(data, path, root)


def _build(data: dict[str, Any], path: Path, root: Any, overrides: Mapping[str, Any]) -> Sweep:
    try:
        policy = TimingPolicy(**{**data.get("timing", {}), **overrides})
    except ConfigurationError as err:
        raise ConfigurationError(f"{path}:{sweep_config.line_of(root, ['timing'])}: timing: {err}") from None
    sweep = Sweep(
        name=str(data.get("name") or path.stem),
        source=path,
        out=Path(data["out"]) if data.get("out") else None,
    )
    for i, item in enumerate(data["models"]):
        model: dict[str, Any] = {"name": item} if isinstance(item, str) else dict(item)
        grid: dict[str, Any] = {k: model.get(k, data.get(k)) for k in _GRID_KEYS}
        for device in grid["devices"] or ["cpu"]:
            request = bench.BenchRequest(
                model=model["name"],
                backends=grid["backends"] or ["onnxruntime", "pytorch"],
                batches=grid["batches"],
                threads=grid["threads"] or [1],
                dims=grid["dims"] or {},
                params=model.get("params") or {},
                options=_options(grid["options"] or {}),
                exporter=grid["exporter"] or "dynamo",
                seed=grid["seed"] or 0,
                policy=policy,
                reference=model.get("reference"),
                timeout_s=float(data.get("timeout_s", 900.0)),
                device=device,
            )
            try:
                bench_plan = bench.plan(request)
            except HepinferError as err:
                line = sweep_config.line_of(root, ["models", i])
                raise ConfigurationError(f"{path}:{line}: models[{i}] ({model['name']}): {err}") from None
            batches = sorted({k.batch for k in bench_plan.keys}, key=[k.batch for k in bench_plan.keys].index)
            for b in batches:
                sweep.groups.append(Group(bench_plan.at_batch(b)))
    return sweep


def _options(options: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """YAML option values (scalars or lists, any type) as the strings BackendOptions parses."""
    text = sweep_config.option_text
    return {
        b: {k: [text(x) for x in (v if isinstance(v, list) else [v])] for k, v in opts.items()}
        for b, opts in options.items()
    }


# ---------------------------------------------------------------------------------------------
# What is done


def done_keys(out: Path, retry_errors: bool = False) -> set[Key]:
    """Keys the results file already holds (with ``retry_errors``, only those that succeeded)."""
    if not out.exists():
        return set()
    latest: dict[Key, str] = {}
    for record in jsonl.read(out):
        try:
            latest[Key.from_dict(record["key"])] = record.get("status", "ok")
        except (KeyError, TypeError):
            continue
    return {k for k, status in latest.items() if status == "ok" or not retry_errors}


def _annotate(record: dict[str, Any], sweep_name: str, worker: str | None = None) -> dict[str, Any]:
    record["sweep"] = {"name": sweep_name, "host": socket.gethostname(), "worker": worker}
    return record


# ---------------------------------------------------------------------------------------------
# Running

OnStart = Callable[[Key], None]
OnRecord = Callable[[dict[str, Any]], None]


def run_group(
    group_plan: bench.Plan,
    skip: Iterable[Key],
    sweep_name: str,
    on_start: OnStart | None = None,
    on_record: OnRecord | None = None,
) -> list[dict[str, Any]]:
    """Measure one group, skipping ``skip``; runs locally or as a Dask task."""
    skipped = set(skip)
    worker = None
    try:  # inside a Dask task, name the worker that measured
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        pass

    def started(i: int, n: int, key: Key) -> None:
        if on_start is not None:
            on_start(key)

    def finished(record: dict[str, Any]) -> None:
        _annotate(record, sweep_name, worker)
        if on_record is not None:
            on_record(record)

    return bench.run_bench(
        group_plan, out=None, on_start=started, on_record=finished, skip=lambda k: k in skipped
    )


def run_sweep(
    sweep: Sweep,
    out: Path,
    resume: bool = False,
    retry_errors: bool = False,
    scheduler: str | None = None,
    on_start: OnStart | None = None,
    on_record: OnRecord | None = None,
) -> list[dict[str, Any]]:
    """Run every configuration not yet in ``out`` (when resuming); records appended as they come."""
    done = done_keys(out, retry_errors) if resume else set()
    if not resume and out.exists() and done_keys(out) & set(sweep.keys):
        raise ResultsError(
            f"{out} already holds records of this sweep: add --resume to skip them, or choose another --out"
        )
    todo = [g for g in sweep.groups if any(k not in done for k in g.keys)]
    records: list[dict[str, Any]] = []

    def keep(record: dict[str, Any]) -> None:
        jsonl.append(out, record)
        records.append(record)
        if on_record is not None:
            on_record(record)

    if scheduler is None:
        for group in todo:
            run_group(group.plan, done, sweep.name, on_start, keep)
    else:
        _run_dask(todo, done, sweep.name, scheduler, on_start, keep)
    return records


def _run_dask(
    groups: list[Group],
    done: set[Key],
    sweep_name: str,
    scheduler: Any,
    on_start: OnStart | None,
    keep: OnRecord,
) -> None:
    """Submit each group as a task holding one ``benchmark`` resource; keep records as tasks end.

    A worker lost mid-task makes the scheduler run the task again elsewhere (up to
    ``distributed.scheduler.allowed-failures`` times); records reach the file only from
    finished tasks, so a lost task leaves no partial group behind.
    """
    require("distributed", "--scheduler")
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout="30s")
    try:
        _wait_for_resource(client)
        futures = {}
        for group in groups:
            skip = [k for k in group.keys if k in done]
            fut = client.submit(
                run_group,
                group.plan,
                skip,
                sweep_name,
                key=_task_name(group),
                resources={RESOURCE: 1},
                pure=False,
            )
            futures[fut] = group
            if on_start is not None:
                on_start(next(k for k in group.keys if k not in done))
        for fut in as_completed(futures):
            group = futures[fut]
            try:
                results = fut.result()
            except Exception as err:  # a task that failed every retry: say which, keep going
                for key in group.keys:
                    if key not in done:
                        keep(_annotate(_failed(key, group, err), sweep_name))
                continue
            for record in results:
                keep(record)
    finally:
        if client is not scheduler:
            client.close()


def _task_name(group: Group) -> str:
    k = group.keys[0]
    return f"hepinfer-{k.model}-{k.device}-b{k.batch}-{time.time_ns()}"


def _wait_for_resource(client: Any, timeout_s: float = 60.0) -> None:
    """Fail clearly when no worker offers the ``benchmark`` resource (tasks would wait forever)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        if any(w.get("resources", {}).get(RESOURCE, 0) >= 1 for w in workers.values()):
            return
        time.sleep(0.5)
    raise ConfigurationError(
        f"no Dask worker offers the resource '{RESOURCE}': start workers with "
        f"'dask worker SCHEDULER --nthreads 1 --resources {RESOURCE}=1'"
    )


def _failed(key: Key, group: Group, err: BaseException) -> dict[str, Any]:
    from hepinfer.results.schema import new_record

    record = new_record(key, "dask")
    record["status"] = "error"
    message = first_line(err)
    record["error"] = {
        "type": type(err).__name__,
        "message": f"Dask task failed: {message}",
        "phase": "dask",
        "traceback": "",
    }
    record["model"] = {
        "ref": {"kind": "?", "name": group.request.model, "params": dict(group.request.params)}
    }
    return record
