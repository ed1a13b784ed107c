"""Every CPU backend on the zoo's small models, through hepinfer's own harness (not a test).

    PYTHONPATH=src python benchmarks/backends.py                       # the full grid
    PYTHONPATH=src python benchmarks/backends.py --models linear_event --batches 1 --threads 1

For each model, batch size (1, 16, 256) and thread count (1, then 2), each configuration runs
in its own worker process (hepinfer.runner.bench); the table gives the per-event median
latency, the speed-up over the model's native framework (PyTorch eager for PyTorch-origin
models, the compiled tf.function for Keras-origin ones) at the same batch and threads, and the
agreement with it. Expected at batch 1 on linear_event (issue 4): SOFIE about 2.5 us, ONNX
Runtime with I/O binding about 5.5 us, plain ONNX Runtime about 8-10 us.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hepinfer.backends.registry import backend_class
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results.schema import Key
from hepinfer.runner.bench import BenchRequest, run_bench
from hepinfer.zoo import ENTRIES, entry
from hepinfer.zoo.keras_twins import has_keras

MODELS = ("linear_event", "higgs_model_dense", "jet_vae", "event_vae")
# backend -> option grid; each combination is one configuration.
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "pytorch": {"mode": ("eager", "torchscript")},
    "onnxruntime": {"iobinding": ("false", "true")},
    "openvino": {},
    "sofie": {},
    "tensorflow": {},
}


def native(model: str) -> str:
    """The framework the model was written in: its Keras twin's, or PyTorch."""
    return "tensorflow" if entry(model).origin == "keras" and has_keras(model) else "pytorch"


def label(record: dict[str, Any]) -> str:
    opts = record["key"]["options"]
    extra = ",".join(f"{k}={v}" for k, v in sorted(opts.items()))
    return record["key"]["backend"] + (f"[{extra}]" if extra else "")


def fmt_ns(ns: float) -> str:
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} us"
    return f"{ns / 1e6:.2f} ms"


def main(argv: list[str]) -> int:
    ns = _parser().parse_args(argv)
    if ns.compile:
        VARIANTS["pytorch"] = {"mode": ("eager", "torchscript", "compile")}
    batches = [int(b) for b in ns.batches.split(",")]
    threads = [int(t) for t in ns.threads.split(",")]
    policy = TimingPolicy(max_time_s=ns.max_time, min_calls=20, warmup_calls=10, warmup_s=0.1)
    rows: list[tuple[str, ...]] = []
    for model in ns.models.split(","):
        if model not in ENTRIES:
            print(f"# {model}: not in this zoo yet, skipped", flush=True)
            continue
        ref = native(model)
        usable = _usable(model, [ref] + [b for b in ns.backends.split(",") if b != ref])
        for t in threads:
            request = BenchRequest(
                model=model,
                backends=usable,
                batches=batches,
                threads=(t,),
                reference=ref,
                options={b: v for b, v in VARIANTS.items() if b in usable and v},
                policy=policy,
                timeout_s=600,
            )
            rows += _rows(model, ref, t, run_bench(request, out=ns.out, on_start=_progress))
    _print_table(rows)
    _expected_order(rows)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--batches", default="1,16,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--backends", default=",".join(VARIANTS))
    p.add_argument("--max-time", type=float, default=1.0, help="timing seconds per configuration")
    p.add_argument("--compile", action="store_true", help="add pytorch mode=compile (slow)")
    p.add_argument("--out", type=Path, default=None, help="append the records to this JSONL file")
    return p


def _usable(model: str, backends: list[str]) -> list[str]:
    """The backends that can run the model here; a line for each one skipped, with why."""
    usable = []
    for b in backends:
        reason = backend_class(b).unavailable_reason()
        if b == "tensorflow" and not has_keras(model):
            reason = "no Keras twin"
        if reason:
            print(f"# {model}: {b} skipped ({reason})", flush=True)
        else:
            usable.append(b)
    return usable


def _progress(i: int, n: int, k: Key) -> None:
    print(
        f"  [{i + 1}/{n}] {k.model} {k.backend} {k.options or ''} batch {k.batch} threads {k.threads}",
        file=sys.stderr,
        flush=True,
    )


def _rows(model: str, ref: str, threads: int, records: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """A table row per record: per-event median, speed-up over the native framework, agreement."""
    base = {
        r["key"]["batch"]: r
        for r in records
        if r["key"]["backend"] == ref and not r["key"]["options"] and r["status"] == "ok"
    }
    rows: list[tuple[str, ...]] = []
    for r in records:
        k = r["key"]
        if r["status"] != "ok":
            rows.append(
                (model, str(k["batch"]), str(threads), label(r), "error", "", r["error"]["message"][:70])
            )
            continue
        per_event = r["stats"]["per_event_median_ns"]
        b = base.get(k["batch"])
        speed = f"{b['stats']['per_event_median_ns'] / per_event:.2f}x" if b else "-"
        agree = (r.get("agreement") or {}).get("verdict", "?")
        rows.append((model, str(k["batch"]), str(threads), label(r), fmt_ns(per_event), speed, agree))
    return rows


def _print_table(rows: list[tuple[str, ...]]) -> None:
    header = ("model", "batch", "threads", "backend", "per event", "vs native", "agreement")
    widths = [max(len(x[i]) for x in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _expected_order(rows: list[tuple[str, ...]]) -> None:
    """Issue 4's expectation at batch 1 on linear_event: SOFIE < ORT with I/O binding < ORT."""
    want = ["sofie", "onnxruntime[iobinding=True]", "onnxruntime"]
    for threads in sorted({r[2] for r in rows}):
        got = {r[3]: r[4] for r in rows if r[0] == "linear_event" and r[1] == "1" and r[2] == threads}
        if not all(w in got and got[w] != "error" for w in want):
            continue
        times = [_ns(got[w]) for w in want]
        verdict = "reproduced" if times == sorted(times) else "NOT reproduced"
        line = " < ".join(f"{w} {got[w]}" for w in want)
        print(f"\nlinear_event batch 1, {threads} thread(s): {line}: expected order {verdict}")


def _ns(text: str) -> float:
    value, unit = text.split()
    return float(value) * {"ns": 1.0, "us": 1e3, "ms": 1e6}[unit]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
