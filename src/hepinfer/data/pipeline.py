"""Disk-inclusive timing: read events in chunks from a file, build model inputs, run the model.

Each stage is timed separately over a pass through the file (or its first ``max_events``):
``read`` is getting the next chunk of event records from disk (parquet via pyarrow, only the
columns the builder needs; ROOT via uproot; decompression and conversion to awkward included);
``preprocess`` is building the padded numpy inputs from the records plus the backend's
``prepare``; ``inference`` is the backend's ``run`` (+ synchronize), one call per batch, as
in the inference-only timing.
With ``--data`` the inference-only timing and the agreement check also run on the file's
first batch of rows instead of the seeded synthetic inputs (``first_inputs``).
Rows that do not fill a last batch are carried to the next chunk; a final partial batch is
dropped (models may have a fixed batch). The operating system's page cache is not dropped:
a second pass (``again``) reads what the first left in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.data import builders, store
from hepinfer.errors import DataError


def check(path: str | Path, input_names: set[str] | frozenset[str]) -> str:
    """Fail fast: the file is readable and a builder fits the model; returns the family."""
    family = builders.family_of(set(input_names))
    meta = store.metadata(Path(path))
    if family in ("jet_vae", "particlenet") and meta.get("source") != "pythia8":
        raise DataError(
            f"{path} has no jet constituents ({meta.get('source')}): {family} inputs need a file "
            "from 'hepinfer data generate'"
        )
    return family


def first_inputs(
    path: str | Path, shapes: Mapping[str, tuple[int, ...]], batch: int, chunk: int = 1000
) -> dict[str, np.ndarray]:
    """The first ``batch`` rows of model inputs built from the file's events (the inputs of the
    inference-only timing and of the agreement check when a bench is given --data)."""
    names = set(shapes)
    parts: list[dict[str, np.ndarray]] = []
    rows = 0
    fields = builders.FIELDS[builders.family_of(names)]
    for records in store.iter_events(Path(path), chunk=chunk, fields=fields):
        parts.append(builders.inputs_for(names, records, shapes))
        rows += len(next(iter(parts[-1].values())))
        if rows >= batch:
            return {k: np.ascontiguousarray(np.concatenate([p[k] for p in parts])[:batch]) for k in parts[0]}
    raise DataError(
        f"{path}: {rows} rows of model inputs, fewer than the batch of {batch}; "
        "use a smaller --batch or a larger file"
    )


def time_from_file(
    run: Callable[[Any], Any],
    prepare: Callable[[Mapping[str, np.ndarray]], Any],
    shapes: Mapping[str, tuple[int, ...]],
    path: str | Path,
    batch: int,
    chunk: int = 1000,
    max_events: int | None = None,
    sync: Callable[[], None] | None = None,
    passes: int = 2,
) -> dict[str, Any]:
    """Time read / preprocess / inference over the file; ``shapes`` are the inputs' shapes
    without the batch axis. Returns totals, per-batch inference samples and rates per pass."""
    path = Path(path)
    names = set(shapes)
    family = builders.family_of(names)
    results = []
    for p in range(passes):
        results.append(_one_pass(run, prepare, shapes, path, batch, chunk, max_events, sync, names))
        results[-1]["pass"] = "first" if p == 0 else "again"
    return {
        "file": str(path),
        "bytes": path.stat().st_size,
        "family": family,
        "chunk_events": chunk,
        "batch": batch,
        "passes": results,
    }


def _one_pass(
    run: Callable[[Any], Any],
    prepare: Callable[[Mapping[str, np.ndarray]], Any],
    shapes: Mapping[str, tuple[int, ...]],
    path: Path,
    batch: int,
    chunk: int,
    max_events: int | None,
    sync: Callable[[], None] | None,
    names: set[str],
) -> dict[str, Any]:
    read_ns = pre_ns = 0
    infer: list[int] = []
    events = rows = 0
    carry: dict[str, np.ndarray] | None = None
    fields = builders.FIELDS[builders.family_of(names)]
    it = store.iter_events(path, chunk=chunk, entry_stop=max_events, fields=fields)
    while True:
        t0 = time.perf_counter_ns()
        try:
            records = next(it)
        except StopIteration:
            break
        t1 = time.perf_counter_ns()
        read_ns += t1 - t0
        events += len(records)
        inputs = builders.inputs_for(names, records, shapes)
        if carry is not None:
            inputs = {k: np.concatenate([carry[k], v]) for k, v in inputs.items()}
        n = len(next(iter(inputs.values())))
        full = n - n % batch
        carry = {k: v[full:] for k, v in inputs.items()}
        pre_ns += time.perf_counter_ns() - t1
        for start in range(0, full, batch):
            t2 = time.perf_counter_ns()
            prepared = prepare({k: np.ascontiguousarray(v[start : start + batch]) for k, v in inputs.items()})
            t3 = time.perf_counter_ns()
            run(prepared)
            if sync is not None:
                sync()
            t4 = time.perf_counter_ns()
            pre_ns += t3 - t2
            infer.append(t4 - t3)
            rows += batch
    if not infer:
        raise DataError(
            f"{path}: not one full batch of {batch} rows in {events} events; "
            "use a smaller --batch or a larger file"
        )
    infer_ns = int(np.sum(infer))
    total = read_ns + pre_ns + infer_ns
    return {
        "events": events,
        "rows": rows,
        "batches": len(infer),
        "read_ns": read_ns,
        "preprocess_ns": pre_ns,
        "inference_ns": infer_ns,
        "total_ns": total,
        "inference_samples_ns": infer,
        "per_row_ns": {
            "read": read_ns / rows,
            "preprocess": pre_ns / rows,
            "inference": infer_ns / rows,
            "total": total / rows,
        },
        "inference_median_ns": float(np.median(infer)),
    }
