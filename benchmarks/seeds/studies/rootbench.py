"""Study 6: the rootbench models, ONNX Runtime against SOFIE (and TorchScript)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seeds.analysis import Records, Section, find, fx, per_event_us, ratio, speedup_row
from seeds.published import ROOTBENCH


def study6(records: Records, extra: Mapping[str, Any]) -> Section:
    s = Section(6)
    batch_of = {"generator": 64}
    same: list[str] = []
    other: list[str] = []
    for name, (ort_pub, sofie_pub) in ROOTBENCH.items():
        b = batch_of.get(name, 1)
        ort = per_event_us(find(records, name, "onnxruntime", batch=b))
        sofie = per_event_us(find(records, name, "sofie", batch=b))
        got = speedup_row(s, f"{name} (batch {b}): ONNX Runtime / SOFIE", ort_pub / sofie_pub, ort, sofie)
        if got is not None:
            (same if (got > 1) == (ort_pub > sofie_pub) else other).append(name)
        ts = per_event_us(find(records, name, "pytorch", batch=b, options={"mode": "torchscript"}))
        if ts is not None:
            s.rows.append((f"{name} (batch {b}): TorchScript / SOFIE", "-", fx(ratio(ts, sofie))))
    if same or other:
        s.why.append(
            "The faster of the two is the same as in rootbench's logs for "
            + (", ".join(same) or "none of the models")
            + (f", the other one for {', '.join(other)}" if other else "")
            + "."
        )
    s.why.append(
        "rootbench timed SOFIE's generated C++ from C++ (Google Benchmark) and ONNX Runtime's C++ "
        "API; we call both from Python (SOFIE through ctypes, ONNX Runtime through its Python "
        "binding), which adds microseconds of per-call overhead to each: for the two tiny MLPs, "
        "whose whole call takes microseconds, that overhead is a large part of the time and "
        "changes the ratio."
    )
    s.why.append(
        "The large models (the calo-sim generator, the 14-layer convolution) are dominated by "
        "arithmetic, where the GEMM/convolution kernels of each library decide; this CPU has "
        "AVX-512 and SOFIE is compiled with -march=native here."
    )
    s.missing.append(
        "The rootbench ONNX files themselves (../shared/models/rootbench) run in the full mode only; "
        "the quick mode times the zoo's twins of the same architectures (same shapes, other weights)."
    )
    return s
