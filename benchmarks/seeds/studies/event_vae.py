"""Study 2: the DarkMachines event-level VAE, PyTorch (eager, threads, TorchScript, compile) against
ONNX Runtime, the outputs' agreement, and real CMS events from disk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import Records, Section, data_us, end_to_end, find, per_event_us, speedup_row
from seeds.published import STUDIES


def study2(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(2)
    pub = STUDIES[2].ratios["PyTorch / ONNX Runtime, batch 1"]
    ort = per_event_us(find(records, "event_vae", "onnxruntime"))
    eager1 = per_event_us(find(records, "event_vae", "pytorch"))
    ours = speedup_row(s, "PyTorch eager, 1 thread / ONNX Runtime, 1 thread", pub, eager1, ort)
    other: dict[str, float | None] = {}
    for opts, threads, what in (
        ({}, 2, "PyTorch eager, 2 threads / ONNX Runtime, 1 thread"),
        ({"mode": "torchscript"}, 1, "PyTorch TorchScript, 1 thread / ONNX Runtime, 1 thread"),
        ({"mode": "compile"}, 1, "PyTorch torch.compile, 1 thread / ONNX Runtime, 1 thread"),
    ):
        rec = find(records, "event_vae", "pytorch", threads=threads, options=opts)
        if rec is not None:
            other[f"{opts.get('mode', 'eager')}{threads}"] = speedup_row(s, what, pub, per_event_us(rec), ort)
    report = extra.get("validate") or {}
    diffs = _agreement_rows(s, report)
    if not report:
        s.missing.append("hepinfer validate was not run: no per-output agreement.")
    s.why.append(_how_called(ours, other.get("eager2"), other.get("torchscript1")))
    if ours is not None:
        if pub / ours >= 2:
            s.why.append(
                f"So our ratio ({ours:.2f}x) is far below the published {pub:.0f}x: the published "
                "PyTorch number most likely included framework overheads that inference_mode and 1 "
                "thread avoid."
            )
        else:
            s.why.append(f"Our ratio ({ours:.2f}x) is {ours / pub:.2f} times the published {pub:.0f}x.")
    if diffs:
        s.why.append(
            f"The outputs differ by at most {max(diffs):.1g}, "
            + (
                "the level of float32 rounding: ONNX Runtime fuses and reorders operations (GEMM + "
                "bias + activation), so sums are taken in another order."
                if max(diffs) < 1e-5
                else "more than float32 rounding explains."
            )
        )
    _real_events(s, pub, extra)
    return s


def _agreement_rows(s: Section, report: Mapping[str, Any]) -> list[float]:
    """A row per output of each converted backend on realistic inputs; the largest |diff| of each."""
    diffs: list[float] = []
    for b in report.get("backends", []):
        if b.get("role") == "reference":
            continue
        realistic = (b.get("sets") or {}).get("realistic") or {}
        for out, o in (realistic.get("outputs") or {}).items():
            if isinstance(o.get("max_abs"), int | float):
                diffs.append(float(o["max_abs"]))
            s.rows.append(
                (
                    f"{b.get('backend')} vs {report.get('reference')}: output {out}, max |diff|",
                    "differs slightly",
                    f"{o.get('max_abs', float('nan')):.2g} ({o.get('verdict')})",
                )
            )
    return diffs


def _how_called(ours: float | None, two: float | None, script: float | None) -> str:
    """Why the PyTorch figure depends on threads and mode, from eager at 1 and 2 threads and TorchScript."""
    how = [
        "The PyTorch figure depends on how it is called: eager mode pays Python dispatch per "
        "operator (dozens of small ops at batch 1)"
    ]
    if ours and two:
        how.append(
            f"a second intra-op thread made it {two / ours:.2f} times slower here (at this size "
            "threads only add synchronisation)"
            if two > ours
            else f"a second intra-op thread made it {ours / two:.2f} times faster here"
        )
    if ours and script:
        how.append(
            f"TorchScript (what LibTorch runs) removes part of the Python overhead ({ours / script:.1f} "
            "times faster than eager here)"
            if script < ours
            else "TorchScript (what LibTorch runs) was not faster than eager here"
        )
    return (
        ", ".join(how) + "; we run eager under torch.inference_mode with 1 intra-op thread, which is "
        "most likely a leaner call than the published one (the publication does not give its "
        "threads or mode)."
    )


def _real_events(s: Section, pub: float, extra: Mapping[str, Any]) -> None:
    """The rows and sentence of the disk-inclusive runs on the real packaged CMS events (hzz)."""
    data = [r for r in extra.get("data", []) if r.get("status", "ok") == "ok"]
    got = {r["key"]["backend"]: data_us(r) for r in data}
    if not got:
        s.missing.append("The real packaged CMS events were not timed (no -data results).")
        return
    pt, ort_d = got.get("pytorch", (None, None)), got.get("onnxruntime", (None, None))
    events = next((r["data"]["passes"][0].get("events") for r in data), "?")
    speedup_row(
        s,
        f"PyTorch / ONNX Runtime on real CMS events (hzz, {events} events, R=39), inference median",
        pub,
        pt[0],
        ort_d[0],
    )
    speedup_row(s, "same, with reading and preprocessing", None, pt[1], ort_d[1])
    s.why.append(end_to_end(data, "pytorch", "onnxruntime"))
