"""The Python API: one function per command, returning the objects the command's tables show.

The command line parses its arguments, calls these (or ``hepinfer.runner.*`` with progress
callbacks) and prints; notebooks, the demo and the seed studies call them directly. Nothing
heavy is imported until a function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


def bench(
    model: str,
    backends: Sequence[str] = ("onnxruntime", "pytorch"),
    batches: Sequence[int] | None = None,
    threads: Sequence[int] = (1,),
    dims: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
    options: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    out: str | Path | None = None,
    reference: str | None = None,
    repeat: int = 1,
    **timing: Any,
) -> list[dict[str, Any]]:
    """Measure ``model`` (a zoo name or an ONNX path) and return one record per configuration.

    ``timing`` takes TimingPolicy fields (``max_time_s``, ``min_calls``, ``rel_ci``...);
    ``reference`` is the backend whose outputs the others are compared with (default: the
    model's native framework, ONNX Runtime for a file); ``repeat`` runs each configuration
    in that many worker processes, one record each (what ``hepinfer compare`` tests on).
    Records are also appended to ``out`` when given. A configuration that fails yields a
    record with ``status == "error"``; bad arguments raise HepinferError before anything runs.
    """
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    request = BenchRequest(
        model=str(model),
        backends=list(backends),
        batches=list(batches) if batches else None,
        threads=list(threads),
        dims=dict(dims or {}),
        params=dict(params or {}),
        options={b: {k: [str(x) for x in v] for k, v in o.items()} for b, o in (options or {}).items()},
        policy=TimingPolicy(**timing),
        reference=reference,
        repeat=repeat,
    )
    return run_bench(request, out=Path(out) if out else None)


def read_records(path: str | Path) -> list[Any]:
    """Every record of a results file as a typed ``hepinfer.results.record.Record``.

    Older schema versions are migrated on reading; attributes replace dict look-ups
    (``record.stats["median_ns"]``, ``record.memory.peak_bytes``, ``record.process.modules``).
    """
    from hepinfer.results import jsonl
    from hepinfer.results.record import Record

    return [Record.from_dict(r, f"{path}") for r in jsonl.read(Path(path))]


def env() -> dict[str, Any]:
    """This machine and each backend: ``{"environment": {...}, "backends": {name: status}}``.

    ``environment`` is what every record carries (CPU, ISA, BLAS pools, versions); a backend's
    status is ``{"status": "available", "version": ...}`` or ``{"status": "unavailable",
    "reason": ...}``; a client of a server (``triton``) whose client is installed but whose
    default server does not answer is ``{"status": "client only", "reason": "client
    installed; no server at ADDRESS"}``. No backend's framework is imported.
    """
    import numpy  # noqa: F401  (loads numpy's BLAS, so that it is listed)

    from hepinfer.backends.registry import availability
    from hepinfer.measure.environment import environment

    backends = availability()
    for name, status in backends.items():
        server = _default_server(name) if status["status"] == "available" else None
        if server is not None and not _answers(server):
            status.update(status="client only", reason=f"client installed; no server at {server}")
    return {"environment": environment(), "backends": backends}


def _default_server(backend: str) -> str | None:
    """The server a backend talks to by default (its Options' ``server``), if it has one."""
    import dataclasses

    from hepinfer.backends.registry import backend_class

    options = backend_class(backend).Options
    if not dataclasses.is_dataclass(options):
        return None
    for f in dataclasses.fields(options):
        if f.name == "server" and isinstance(f.default, str):
            return f.default
    return None


def _answers(url: str) -> bool:
    """Whether something accepts a TCP connection at the URL's host and port (0.5 s)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url if "://" in url else f"grpc://{url}")
    if not parsed.hostname or not parsed.port:
        return True  # cannot tell: leave the status as the backend gave it
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=0.5):
            return True
    except OSError:
        return False


def zoo_models(
    count: bool = True,
    cost: bool = False,
    batch: int = 1,
    exporter: str = "dynamo",
    on_start: Callable[[int, int, str], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    family: str | None = None,
) -> list[dict[str, Any]]:
    """The built-in models at their default options, one dict each: ``model``, ``family``,
    ``params`` (trainable parameters, counted by building the model; None when ``count`` is
    false), ``target_params`` and ``target_kind`` (what the spec asks for), ``options`` (the
    defaults), ``inputs`` (``name[shape] dtype``) and ``summary``. ``cost`` adds
    ``weight_bytes``, ``macs_per_event`` at ``batch`` and ``export_elements`` (the initializer
    elements of the export: folded constants and buffers counted, tied weights once), read
    from each model's ONNX export (exported once with ``exporter``, then cached).
    ``on_start(i, n, name)`` and ``on_row(row)`` tell a caller's progress of each model;
    ``family`` keeps one family's models (``zoo_families()`` lists them)."""
    entries = _zoo_entries(family)
    out = []
    for i, (name, e) in enumerate(entries.items()):
        if on_start is not None:
            on_start(i, len(entries), name)
        spec = e.spec(e.params({}))
        row: dict[str, Any] = {
            "model": name,
            "family": e.family,
            "params": e.count_parameters() if count else None,
            "target_params": e.target_params,
            "target_kind": e.target_kind,
            "options": dict(e.defaults),
            "inputs": [t.describe() for t in spec.inputs],
            "summary": e.summary,
        }
        if cost:
            c = model_cost(name, batch=batch, exporter=exporter)
            row.update(
                weight_bytes=c["weight_bytes"],
                macs_per_event=c["macs_per_event"],
                export_elements=c["params"],
            )
        out.append(row)
        if on_row is not None:
            on_row(row)
    return out


def zoo_families() -> list[str]:
    """The zoo's model families, in catalog order."""
    from hepinfer.zoo import ENTRIES

    return list(dict.fromkeys(e.family for e in ENTRIES.values()))


def _zoo_entries(family: str | None) -> dict[str, Any]:
    from hepinfer.errors import ConfigurationError
    from hepinfer.zoo import ENTRIES

    if family is None:
        return dict(ENTRIES)
    if family not in zoo_families():
        raise ConfigurationError(f"no zoo family {family!r}; the families are {', '.join(zoo_families())}")
    return {name: e for name, e in ENTRIES.items() if e.family == family}


def model_cost(
    model: str,
    batch: int = 1,
    dims: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
    exporter: str = "dynamo",
    matrix: bool = False,
) -> dict[str, Any]:
    """One model (a zoo name or an ONNX path): its ``model`` label, ``inputs`` and ``outputs``
    (``name[shape] dtype``), and the cost of its ONNX graph at ``batch`` and ``dims``
    (``convert.cost.model_cost``: ``params``, ``weight_bytes``, ``macs``, ``macs_per_event``,
    ``macs_by_op``, ``batch``, ``dims``, ``uncounted``; ``params`` counts the initializer
    elements of the export). A zoo model is exported first (cached) and also gives
    ``trainable_params``, the trainable parameters of its definition (what ``hepinfer zoo``
    lists), which differ from the export's elements where the exporter folds constants or
    keeps buffers. ``dynamic_axes`` lists the model's --dim groups; where one has no size
    (none given, no default), the cost is left out: ``cost`` None and ``cost_needs`` naming
    the groups. With ``matrix``, ``conversions`` holds the model's conversion matrix
    (``conversion_matrix``)."""
    from hepinfer.convert.cost import model_cost as graph_cost
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(model, dict(params or {}))
    spec = spec_of(ref)
    spec.check_batch(batch)
    groups = spec.axis_groups()
    described: dict[str, Any] = {
        "model": ref.label,
        "inputs": [t.describe() for t in spec.inputs],
        "outputs": [t.describe() for t in spec.outputs],
        # One entry per --dim the model takes (axes the graph ties together are one).
        "dynamic_axes": groups,
    }
    given = spec.given_dims(dict(dims or {}))
    unsized = [g["name"] for g in groups if g["default"] is None and g["name"] not in given]
    if unsized:  # the description without the cost, which needs every size
        return {**described, "cost": None, "cost_needs": unsized}
    if ref.kind == "zoo":
        from hepinfer.convert.torch_onnx import export_zoo

        path = export_zoo(ref, spec, exporter, fallback=True).path  # type: ignore[arg-type]
    elif ref.kind == "triton":
        from hepinfer.zoo.triton_config import repository_model

        served = repository_model(Path(ref.name))
        if served.format != "onnx":
            return {
                **described,
                "cost": None,
                "cost_needs": [],
                "cost_note": "no graph in a TorchScript file",
            }
        path = served.file
    elif ref.kind != "onnx":  # a file in its own framework's format: its ONNX conversion
        from hepinfer.convert.artifact import ModelArtifact

        path = ModelArtifact(ref=ref, spec=spec, exporter=exporter).onnx_path()
    else:
        path = Path(ref.name)
    cost = graph_cost(path, batch, spec.resolve_dims(given), spec=spec)
    if ref.kind == "zoo":
        from hepinfer.zoo import entry

        cost["trainable_params"] = entry(ref.name).count_parameters(dict(ref.params))
    if matrix:
        cost["conversions"] = conversion_matrix(model, batch=batch, dims=dims, params=params)
    return {**described, **cost}


def conversion_matrix(
    model: str,
    batch: int = 1,
    dims: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Which conversions of a model (an ONNX file or a zoo name) work, each with its largest
    absolute difference from the source on the same seeded inputs, or the one line saying why
    it fails (``runner.conversions.conversion_matrix``; cached). With ``out`` (a results
    file) it is also kept beside it as ``RESULTS.conversions.json`` for the HTML report."""
    from hepinfer.runner import conversions
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(model, dict(params or {}))
    found = conversions.conversion_matrix(ref, spec_of(ref), batch, dims)
    if out is not None:
        conversions.store(found, Path(out))
    return found


def validate(model: str, **fields: Any) -> dict[str, Any]:
    """Validate ``model`` (``runner.validate.ValidateRequest`` fields: ``backends``,
    ``reference``, ``checks``, ``precision``...); the report the validate tables show."""
    from hepinfer.runner import validate as runner

    request = runner.ValidateRequest(model=model, **fields)
    runner.check(request)
    return runner.run_validation(request)


def memory(model: str, out: str | Path | None = None, **fields: Any) -> list[dict[str, Any]]:
    """Memory records of ``model`` (``runner.memory.MemoryRequest`` fields: ``backends``,
    ``batches``, ``threads``, ``calls``...), one per (backend, batch); appended to ``out``."""
    from hepinfer.runner import memory as runner

    request = runner.MemoryRequest(model=model, **fields)
    runner.plan(request)
    return runner.run_memory(request, out=Path(out) if out else None)


def eventloop(model: str, out: str | Path | None = None, **fields: Any) -> list[dict[str, Any]]:
    """Event-loop records of ``model`` (``runner.eventloop.EventLoopRequest`` fields:
    ``backends``, ``threads``, ``modes``, ``events``, ``objects``...); appended to ``out``."""
    from hepinfer.runner import eventloop as runner

    request = runner.EventLoopRequest(model=model, **fields)
    runner.plan(request)
    return runner.run_eventloop(request, out=Path(out) if out else None)


def loadgen(
    model: str, out: str | Path | None = None, scenario: str = "SingleStream", **fields: Any
) -> dict[str, Any]:
    """One LoadGen record of ``model``: ``scenario`` and ``runner.loadgen.LoadGenRequest``
    fields (``qps``, ``duration_s``, ``mode``, ``threads``...; the rest go to the event loop's
    request: ``backends``, ``objects``...)."""
    import dataclasses

    from hepinfer.runner import loadgen as runner
    from hepinfer.runner.eventloop import EventLoopRequest

    own = {f.name for f in dataclasses.fields(runner.LoadGenRequest)} - {"loop", "scenario"}
    loop = EventLoopRequest(model=model, **{k: v for k, v in fields.items() if k not in own})
    request = runner.LoadGenRequest(
        loop=loop, scenario=scenario, **{k: v for k, v in fields.items() if k in own}
    )
    runner.check(request)
    return runner.run_loadgen(request, out=Path(out) if out else None)


def sweep(
    config: str | Path | Any,
    out: str | Path | None = None,
    resume: bool = False,
    retry_errors: bool = False,
    scheduler: str | None = None,
    max_time_s: float | None = None,
    on_start: Callable[[Any], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a sweep configuration (a YAML path, or a ``runner.sweep.Sweep`` already loaded) and
    return the records it appended to ``out`` (default: the config's ``out``, else CONFIG.jsonl).

    ``resume`` skips the configurations ``out`` already holds (``retry_errors``: except those
    whose last record is an error); ``scheduler`` (``tcp://HOST:8786``) runs on Dask;
    ``max_time_s`` overrides the config's time cap; ``on_start(key)`` and ``on_record(record)``
    follow progress.
    """
    from hepinfer.errors import ConfigurationError
    from hepinfer.runner import sweep as runner

    if retry_errors and not resume:
        raise ConfigurationError("--retry-errors goes with --resume")
    if isinstance(config, runner.Sweep):
        if max_time_s is not None:
            raise ConfigurationError("max_time_s applies when the sweep is loaded: pass the config's path")
        the_sweep = config
    else:
        overrides = {"max_time_s": max_time_s} if max_time_s is not None else {}
        the_sweep = runner.load(Path(config), overrides)
    target = Path(out) if out else the_sweep.out or the_sweep.source.with_suffix(".jsonl")
    return runner.run_sweep(
        the_sweep,
        target,
        resume=resume,
        retry_errors=retry_errors,
        scheduler=scheduler,
        on_start=on_start,
        on_record=on_record,
    )


def write_report(
    results: str | Path | Sequence[str | Path],
    html: str | Path | None = None,
    md: str | Path | None = None,
    csv: str | Path | None = None,
    plots: str | Path | None = None,
) -> Any:
    """Write the report of one or more results files (their records merged, the latest per
    configuration): one HTML page with its plots embedded, Markdown, CSV, PNG/PDF plots into a
    folder. Give at least one of them. Returns a ``report.files.Written``: ``paths`` (the
    files written) and ``configurations`` (how many the report covers)."""
    from hepinfer.report.files import write_all

    paths = [results] if isinstance(results, str | Path) else list(results)
    return write_all(
        [Path(p) for p in paths],
        html=Path(html) if html else None,
        md=Path(md) if md else None,
        csv=Path(csv) if csv else None,
        plots=Path(plots) if plots else None,
    )
