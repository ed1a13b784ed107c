"""hepinfer: how fast, how lean and how faithful a HEP model runs on each inference backend.

The notebook API::

    import hepinfer
    records = hepinfer.bench("event_vae", backends=["onnxruntime", "pytorch"], batches=[1, 64])
    session = hepinfer.Session.from_config("deploy.json")   # what ``hepinfer tune`` chose
    scores = session(inputs)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__version__ = "0.1.0"
__all__ = ["Session", "__version__", "bench"]


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
    **timing: Any,
) -> list[dict[str, Any]]:
    """Measure ``model`` (a zoo name or an ONNX path) and return one record per configuration.

    ``timing`` takes TimingPolicy fields (``max_time_s``, ``min_calls``, ``rel_ci``...);
    ``reference`` is the backend whose outputs the others are compared with (default: the
    model's native framework, ONNX Runtime for a file).
    Records are also appended to ``out`` when given. A configuration that fails yields a
    record with ``status == "error"``; bad arguments raise HepinferError before anything runs.
    """
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run

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
    )
    return run(request, out=Path(out) if out else None)


def read_records(path: str | Path) -> list[Any]:
    """Every record of a results file as a typed ``hepinfer.results.record.Record``.

    Older schema versions are migrated on reading; attributes replace dict look-ups
    (``record.stats["median_ns"]``, ``record.memory.peak_bytes``, ``record.process.modules``).
    """
    from hepinfer.results import jsonl
    from hepinfer.results.record import Record

    return [Record.from_dict(r, f"{path}") for r in jsonl.read(Path(path))]


def __getattr__(name: str) -> Any:
    """``hepinfer.Session``, imported when first used (``import hepinfer`` stays light)."""
    if name == "Session":
        from hepinfer.session import Session

        return Session
    raise AttributeError(f"module 'hepinfer' has no attribute {name!r}")
