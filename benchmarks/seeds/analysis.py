"""Record look-ups and formatting for the seed-study page: find a configuration's latest record,
its time per event, memory, disk-inclusive times, ratios, and the :class:`Section` a study
returns (rows of comparison / published / ours, why they differ, what was not re-measured)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any


@dataclass
class Section:
    """What the page shows for one study."""

    number: int
    # (comparison, published, ours)
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    # (configuration, per-event median, p99 per event, peak RSS) measured on this machine.
    absolute: list[tuple[str, str, str, str]] = field(default_factory=list)
    why: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


Records = Sequence[dict[str, Any]]


def _model_matches(key: Mapping[str, Any], model: str) -> bool:
    name = str(key.get("model", "")).split("[", 1)[0]  # zoo labels carry their options: event_vae[R=32]
    return name == model or PurePath(name).name == model or PurePath(name).stem == model


def find(
    records: Records,
    model: str,
    backend: str,
    batch: int = 1,
    threads: int = 1,
    options: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    dims: Mapping[str, int] | None = None,
) -> dict[str, Any] | None:
    """The latest successful record of that configuration (options exactly; params, dims as subsets)."""
    found = None
    for r in records:
        k = r.get("key") or {}
        if r.get("status", "ok") != "ok" or not _model_matches(k, model):
            continue
        if k.get("backend") != backend or k.get("batch") != batch or k.get("threads") != threads:
            continue
        if dict(k.get("options") or {}) != dict(options or {}):
            continue
        mp, dm = k.get("model_params") or {}, k.get("dims") or {}
        if any(str(mp.get(n)) != str(v) for n, v in (params or {}).items()):
            continue
        if any(dm.get(n) != v for n, v in (dims or {}).items()):
            continue
        found = r
    return found


def per_event_us(record: Mapping[str, Any] | None) -> float | None:
    """Median time per event in microseconds."""
    if record is None:
        return None
    value = (record.get("stats") or {}).get("per_event_median_ns")
    return float(value) / 1e3 if isinstance(value, int | float) else None


def per_call_us(record: Mapping[str, Any] | None) -> float | None:
    """Median time per call in microseconds."""
    if record is None:
        return None
    value = (record.get("stats") or {}).get("median_ns")
    return float(value) / 1e3 if isinstance(value, int | float) else None


def peak_mib(record: Mapping[str, Any] | None) -> float | None:
    """Peak RSS of the worker in MiB."""
    value = ((record or {}).get("memory") or {}).get("peak_rss")
    return float(value) / 2**20 if isinstance(value, int | float) else None


def min_ratio(record: Mapping[str, Any] | None) -> float | None:
    """Memory the model takes (RSS growth from loading and running it, imports excluded) over
    the theoretical minimum of its ONNX graph (weights + peak of live activations)."""
    memory = (record or {}).get("memory") or {}
    minimum = memory.get("minimum") or {}
    if isinstance(minimum.get("ratio"), int | float):
        return float(minimum["ratio"])
    total, measured = minimum.get("total_bytes"), memory.get("measured_bytes")
    if isinstance(total, int | float) and isinstance(measured, int | float) and total > 0:
        return float(measured) / float(total)
    return None


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing."""
    return a / b if a is not None and b is not None and b > 0 else None


def fx(value: float | None, digits: int = 2) -> str:
    """``4.38x`` or ``not measured``."""
    return "not measured" if value is None else f"{value:.{digits}f}x"


def ftime(us: float | None) -> str:
    """A time per event in the most readable unit."""
    if us is None:
        return "-"
    if us >= 1000:
        return f"{us / 1000:.3g} ms"
    return f"{us:.3g} us"


def fmib(mib: float | None) -> str:
    """MiB with no decimals."""
    return "-" if mib is None else f"{mib:.0f} MiB"


def label(record: Mapping[str, Any]) -> str:
    """``jet_vae tensorflow[mode=call] b1 t1``."""
    k = record.get("key") or {}
    name = PurePath(str(k.get("model", "?"))).name
    dims = k.get("dims") or {}
    if dims:
        name += " " + ",".join(f"{n}={v}" for n, v in dims.items())
    opts = k.get("options") or {}
    backend = str(k.get("backend", "?")) + (
        "[" + ",".join(f"{n}={v}" for n, v in opts.items()) + "]" if opts else ""
    )
    return f"{name} {backend} b{k.get('batch')} t{k.get('threads')}"


def absolute_rows(records: Records) -> list[tuple[str, str, str, str]]:
    """Every successful configuration's time per event and peak RSS; failures with their reason."""
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("kind", "bench") == "bench":
            latest[label(r)] = r
    rows = []
    for name, r in latest.items():
        if r.get("status", "ok") == "ok":
            p99 = (r.get("stats") or {}).get("per_event_p99_ns")
            rows.append((name, ftime(per_event_us(r)), ftime(p99 / 1e3 if p99 else None), fmib(peak_mib(r))))
        else:
            err = r.get("error") or {}
            why = str(err.get("message", "failed")).splitlines()[0][:120]
            rows.append((name, f"failed ({err.get('phase', '?')}): {why}", "-", "-"))
    return rows


def sample(record: Mapping[str, Any]) -> str:
    """The event sample a disk-inclusive record read: ``graviton-narrow``, ``qcd``, ``hzz``..."""
    name = PurePath(str((record.get("data") or {}).get("file", "?"))).name
    for known in ("graviton-narrow", "graviton-broad", "qcd"):
        if name.startswith(known):
            return known
    return name


def data_us(record: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(median inference time per row, mean total time per row incl. read and preprocessing), us,
    from the first pass over the file."""
    passes = ((record or {}).get("data") or {}).get("passes") or []
    if not passes:
        return None, None
    first = passes[0]
    rows, batch = first.get("rows") or 0, ((record or {}).get("data") or {}).get("batch") or 1
    samples = first.get("inference_samples_ns") or []
    median = statistics.median(samples) / batch / 1e3 if samples else None
    total = (
        first["total_ns"] / rows / 1e3 if rows and isinstance(first.get("total_ns"), int | float) else None
    )
    return median, total


def data_rows(records: Records) -> list[tuple[str, str, str, str]]:
    """Absolute rows of disk-inclusive records: inference median and total per row (first pass)."""
    rows = []
    for r in records:
        if r.get("status", "ok") != "ok":
            continue
        median, total = data_us(r)
        rows.append(
            (
                f"{label(r)} on {sample(r)} from disk (inference median; total incl. read + prep)",
                ftime(median),
                f"total {ftime(total)}",
                fmib(peak_mib(r)),
            )
        )
    return rows


def _prep_us(record: Mapping[str, Any]) -> float | None:
    """Mean read + input-building time per row in the first pass over the file, us."""
    passes = (record.get("data") or {}).get("passes") or []
    if not passes or not passes[0].get("rows"):
        return None
    first = passes[0]
    return (float(first.get("read_ns") or 0) + float(first.get("preprocess_ns") or 0)) / first["rows"] / 1e3


def end_to_end(data: Records, slow: str, fast: str) -> str:
    """A sentence on what reading and input building add to each backend, per row."""
    prep: dict[str, list[float]] = {slow: [], fast: []}
    for r in data:
        value = _prep_us(r)
        if value is not None and r["key"]["backend"] in prep:
            prep[r["key"]["backend"]].append(value)
    if not prep[slow] or not prep[fast]:
        return ""
    a, b = statistics.mean(prep[slow]), statistics.mean(prep[fast])
    return (
        f"Reading the file and building the inputs takes {ftime(a)} per row for {slow} and "
        f"{ftime(b)} for {fast} (conversion into the framework's own tensors included); with the "
        "mean inference time of the pass (which has a longer tail than the median), that gives "
        "the end-to-end ratio."
    )


def speedup_row(
    section: Section, what: str, published: float | None, slow: float | None, fast: float | None
) -> float | None:
    ours = ratio(slow, fast)
    section.rows.append((what, "no figure" if published is None else fx(published), fx(ours)))
    return ours
