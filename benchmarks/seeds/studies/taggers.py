"""Study 4: the CMS taggers against the frameworks they replaced, restricted against full
instruction sets (SOFIE), and DeepJet batched per event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import Records, Section, find, fx, per_event_us, ratio, speedup_row
from seeds.published import TAGGERS

# Why SOFIE cannot generate the other taggers (as of the sofie package installed here), and so
# why the configurations leave them out of its runs.
_SOFIE_FAILS = {
    "deeptau": "PRelu unsupported",
    "deepjet": "a broadcasting error, {1,1,150} vs {1,1,50}",
    "deepak8": "a duplicate initializer after batch-norm fusion",
}


def study4(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(4)
    larger: list[str] = []
    smaller: list[str] = []
    for name, (base, _sse, avx) in TAGGERS.items():
        pt = per_event_us(find(records, name, "pytorch"))
        ort = per_event_us(find(records, name, "onnxruntime"))
        got = ratio(pt, ort)
        if got is not None:
            (larger if got > base / avx else smaller).append(name)
        speedup_row(s, f"{name}: framework (PyTorch twin) / ONNX Runtime, batch 1", base / avx, pt, ort)
    isa = _isa_rows(s, records)
    _batching_rows(s, records, extra)
    s.why.append(
        "The baselines were the frameworks the taggers were trained in (TensorFlow/MXNet in "
        "CMSSW, with their own thread pools and graph overheads); ours is the zoo's PyTorch twin "
        "of each architecture (same layers and sizes, untrained weights), eager under "
        "inference_mode with 1 thread, so the framework side differs in kind from the baseline"
        + (f"; ours is larger for {', '.join(larger)}" if larger else "")
        + (f" and smaller for {', '.join(smaller)}" if smaller else "")
        + "."
    )
    timed = [n for n in TAGGERS if find(records, n, "sofie") is not None]
    untimed = "; ".join(f"{n}: {why}" for n, why in _SOFIE_FAILS.items() if n not in timed)
    s.why.append(
        "Restricted vs full instruction set: CMS patched a switch into ONNX Runtime's MLAS "
        "(MLAS_DYNAMIC_CPU_ARCH); upstream ONNX Runtime picks its kernels by CPUID and has no such "
        "switch, so ORT-SSE cannot be re-measured here. SOFIE compiles its generated C++ for "
        "x86-64-v2 or for this CPU (-march=native), which is the nearest comparison we can make; "
        f"of the four zoo taggers it is timed for {', '.join(timed) or 'none'}"
        + (
            f" (the configuration leaves out {untimed}; as of the sofie package installed here)"
            if untimed
            else ""
        )
        + "; "
        "PyTorch could be capped with ATEN_CPU_CAPABILITY/ONEDNN_MAX_CPU_ISA (hepinfer validate "
        "checks the answers under those caps) but a sweep carries no environment, so it is not timed."
    )
    if isa:
        s.why.append(
            "SOFIE built for x86-64-v2 vs this CPU: "
            + ", ".join(f"{n} {r:.2f}x" for n, r in isa.items())
            + (
                "; about the same, most likely because its matrix products and convolutions go to "
                "OpenBLAS, which picks its kernels by CPUID at run time whatever the compiler flags, "
                "so the flag changes only SOFIE's own loops (it is not the ORT-SSE comparison)."
                if all(0.9 <= r <= 1.1 for r in isa.values())
                else "; the compiler flags matter for SOFIE's own loops (it is not the ORT-SSE comparison)."
            )
        )
    return s


def _isa_rows(s: Section, records: Records) -> dict[str, float]:
    """A row per tagger, the published ORT-SSE / ORT-AVX beside SOFIE portable / native; our ratios."""
    isa: dict[str, float] = {}
    for name, (_base, sse, avx) in TAGGERS.items():
        native = per_event_us(find(records, name, "sofie"))  # native is the default: no options
        portable = per_event_us(find(records, name, "sofie", options={"isa": "portable"}))
        ours = ratio(portable, native)
        if ours is not None:
            isa[name] = ours
        s.rows.append(
            (
                f"{name}: restricted / full ISA",
                f"{sse / avx:.2f}x (ORT-SSE / ORT-AVX)",
                f"{ours:.2f}x (SOFIE x86-64-v2 / -march=native)"
                if ours is not None
                else "not measured: no ISA switch in ONNX Runtime; SOFIE cannot generate it",
            )
        )
    return isa


def _batching_rows(s: Section, records: Records, extra: Mapping[str, Any]) -> None:
    """DeepJet one call per jet against one per event: the zoo twin, the real export, the event loop."""
    for backend in ("pytorch", "onnxruntime"):
        one = per_event_us(find(records, "deepjet", backend, batch=1))
        eight = per_event_us(find(records, "deepjet", backend, batch=8))
        speedup_row(
            s,
            f"DeepJet {backend}: one call per jet / one call per event of 8 jets (per jet)",
            None,
            one,
            eight,
        )
    real1 = per_event_us(find(records, "DeepJet_Run3_122X.onnx", "onnxruntime", batch=1))
    real8 = per_event_us(find(records, "DeepJet_Run3_122X.onnx", "onnxruntime", batch=8))
    speedup_row(
        s, "real CMS DeepJet export, ONNX Runtime: per jet at batch 1 / at batch 8", None, real1, real8
    )
    zoo = per_event_us(find(records, "deepjet", "onnxruntime", batch=1))
    s.rows.append(("real CMS DeepJet / zoo deepjet, ONNX Runtime, batch 1", "-", fx(ratio(real1, zoo))))
    loops = {
        (r.get("eventloop") or {}).get("strategy"): r
        for r in extra.get("eventloop", [])
        if r.get("status") == "ok"
    }
    per_obj, per_ev = _event_us(loops.get("per-object")), _event_us(loops.get("per-event"))
    if per_obj is not None or per_ev is not None:
        speedup_row(
            s,
            "DeepJet event loop (ttbar AK4 jets): per-jet calls / one call per event",
            None,
            per_obj,
            per_ev,
        )


def _event_us(record: Mapping[str, Any] | None) -> float | None:
    """Median wall time per event of an event-loop record, in microseconds."""
    value = (((record or {}).get("stats") or {}).get("event") or {}).get("median_ns")
    return float(value) / 1e3 if isinstance(value, int | float) else None
