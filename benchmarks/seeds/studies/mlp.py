"""Study 5: the dense MLP on each CPU backend at 1 and 2 threads, and its memory against the
theoretical minimum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import Records, Section, find, fx, min_ratio, per_event_us, ratio, speedup_row

MODEL = "higgs_model_dense"
# The backends compared with ONNX Runtime.
_OTHERS = ("tensorflow", "pytorch", "sofie", "openvino")


def study5(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(5)
    batches = sorted({int((r.get("key") or {}).get("batch", 0)) for r in records if r.get("status") == "ok"})
    big = batches[-1] if batches else None
    _speed_rows(s, records, ([1] if 1 in batches else []) + ([big] if big not in (None, 1) else []))
    slowed = []
    for b in batches:
        for backend in ("onnxruntime", *_OTHERS):
            one = per_event_us(find(records, MODEL, backend, batch=b, threads=1))
            two = per_event_us(find(records, MODEL, backend, batch=b, threads=2))
            if one is not None and two is not None and two > 3 * one:
                slowed.append(f"{backend} at batch {b} ({two / one:.0f}x)")
    if slowed:
        s.why.append(
            "With 2 threads some configurations were much slower than with 1: "
            + ", ".join(slowed)
            + ". This 2-core machine was shared with other jobs while measuring, so a second "
            "compute thread competes for a core, and a library that splits each matrix product "
            "between threads waits for the descheduled one; most likely a quiet machine does not "
            "show this, so read the 2-thread figures here with care."
        )
    _memory(s, records, big)
    small = {name: _vs_ort(records, name, 1) for name in _OTHERS}
    compiled = [v for name in ("sofie", "openvino") if (v := small[name]) is not None]
    python = [v for name in ("tensorflow", "pytorch") if (v := small[name]) is not None]
    if compiled and python:
        listed = ", ".join(f"{name} {v:.1f}x" for name, v in small.items() if v is not None)
        s.why.append(
            f"At batch 1, 1 thread (per event, against ONNX Runtime: {listed}) "
            + (
                "Keras and PyTorch are the slowest: the time of a 41k-parameter MLP is call "
                "overhead, not arithmetic, and they pay Python dispatch per layer where SOFIE, "
                "OpenVINO and ONNX Runtime call compiled code."
                if min(python) > max(1.0, *compiled)
                else "Keras and PyTorch are not the slowest, unlike the publication."
            )
        )
    if big is not None and big != 1:
        large = [v for name in _OTHERS if (v := _vs_ort(records, name, big)) is not None]
        if large:
            s.why.append(
                f"At batch {big} every backend is within {min(large):.2f}x to {max(large):.2f}x of "
                "ONNX Runtime: the time is GEMM throughput, where the BLAS (OpenBLAS for SOFIE, MLAS "
                "for ONNX Runtime, oneDNN for OpenVINO) and the threads decide."
            )
    s.missing.append(
        "GPU: this machine has none; the GPU half of the study is `benchmarks/gpu_zoo.py` (see "
        "docs/gpu.md) and is not re-measured here."
    )
    return s


def _vs_ort(records: Records, backend: str, batch: int) -> float | None:
    """The backend's time per event over ONNX Runtime's at that batch, 1 thread."""
    return ratio(
        per_event_us(find(records, MODEL, backend, batch=batch)),
        per_event_us(find(records, MODEL, "onnxruntime", batch=batch)),
    )


def _speed_rows(s: Section, records: Records, batches: list[int]) -> None:
    """A row per backend, batch and thread count against ONNX Runtime, with the published claim."""
    for b in batches:
        for t in (1, 2):
            ort = per_event_us(find(records, MODEL, "onnxruntime", batch=b, threads=t))
            for backend in _OTHERS:
                got = per_event_us(find(records, MODEL, backend, batch=b, threads=t))
                if got is not None:
                    claim = {"tensorflow": "slowest", "pytorch": "slowest", "sofie": "comparable"}.get(
                        backend, "-"
                    )
                    if backend == "sofie" and b != 1:
                        claim = "ONNX Runtime better (ratio > 1)"
                    speedup_row(s, f"{backend} / ONNX Runtime, batch {b}, {t} thread(s)", None, got, ort)
                    s.rows[-1] = (s.rows[-1][0], claim, s.rows[-1][2])


def _memory(s: Section, records: Records, big: int | None) -> None:
    """Model memory over the theoretical minimum at the largest batch: a row per backend, and why."""
    lowest: tuple[str, float] | None = None
    for backend in ("onnxruntime", *_OTHERS):
        rec = find(records, MODEL, backend, batch=big or 1)
        r = min_ratio(rec)
        if r is None:
            continue
        claim = {"tensorflow": "far above", "pytorch": "far above", "onnxruntime": "within 10x"}.get(
            backend, "within 10x, lowest" if backend == "sofie" else "-"
        )
        s.rows.append((f"{backend}: model memory / theoretical minimum, batch {big}", claim, fx(r, 0)))
        if lowest is None or r < lowest[1]:
            lowest = (backend, r)
    if lowest is not None:
        s.why.append(
            f"Memory here is what loading and running the model adds to the worker's RSS (the "
            f"imports excluded) over the theoretical minimum of the graph (weights plus the peak "
            f"of live activations, well under a megabyte for a 41k-parameter MLP); the lowest is "
            f"{lowest[0]} ({lowest[1]:.0f}x). RSS grows in pages and each runtime allocates arenas, "
            "thread pools and kernels' workspaces when it loads, so every backend stays well above "
            "the minimum for a model this small."
        )
