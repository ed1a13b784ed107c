"""Measurement truth: hepinfer's figures against independent ones, as ratios from one run.

Prints ``name: ratio`` lines (with the target where there is one):

- ``peak_rss_zoo_worker/bare_ort``: the peak RSS a bench worker records for zoo linear_event on
  ONNX Runtime, over the peak RSS of a bare Python process that opens the same ONNX file with
  onnxruntime and makes the same calls (target <= 1.10: the worker holds ORT and nothing else);
- ``p99_hepinfer/bare`` and ``median_hepinfer/bare``: ``measure.timer.measure`` against a bare
  ``perf_counter_ns`` loop over the same session and the same number of calls, interleaved in
  rounds in one process (targets <= 1.15 and <= 1.05);
- ``cold_over_warm_iobinding`` beside ``cold_over_warm_plain``: the first call over the warm
  median of ONNX Runtime with and without I/O binding (a warm "cold" call shows a hidden
  inference in ``prepare``);
- ``sofie_ctypes/native``: SOFIE's per-call median through ctypes over its C++ loop's.

    python benchmarks/truth.py [--rounds 5] [--calls 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

import hepinfer
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeOptions
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.measure.timer import TimingPolicy, measure
from hepinfer.zoo import build_inputs, model_ref, spec_of

# A bare ONNX Runtime process: the same file and calls as the worker, nothing else imported.
_BARE = """
import sys, numpy as np, onnxruntime as ort
path, batch, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
opts = ort.SessionOptions(); opts.intra_op_num_threads = 1; opts.inter_op_num_threads = 1
s = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
feed = {i.name: np.random.default_rng(0).random((batch, *i.shape[1:]), np.float32) for i in s.get_inputs()}
for _ in range(calls):
    s.run(None, feed)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


def _peak_rss_ratio() -> float:
    (record,) = hepinfer.bench(
        "linear_event", backends=["onnxruntime"], reference="onnxruntime", max_time_s=2
    )
    peak = max(record["memory"]["peak"].values())
    path = record["one_off"]["conversion"]["torch_to_onnx"]["path"]
    calls = record["stats"]["n"] + record["timing"]["warmup_calls"]
    bare = subprocess.run(
        [sys.executable, "-c", _BARE, path, "1", str(calls)], capture_output=True, text=True, check=True
    )
    return float(peak) / int(bare.stdout.strip())


def _bare_loop(call: Any, arg: Any, calls: int) -> list[int]:
    pc = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        t0 = pc()
        call(arg)
        t1 = pc()
        samples.append(t1 - t0)
    return samples


def _loops(rounds: int, calls: int) -> tuple[float, float]:
    """(median ratio, p99 ratio) of measure() over a bare loop, same session and count."""
    ref = model_ref("linear_event")
    spec = spec_of(ref)
    backend = OnnxRuntimeBackend()
    backend.load(ModelArtifact(ref=ref, spec=spec), OnnxRuntimeOptions(threads=1))
    prepared = backend.prepare(build_inputs(ref, spec, 1, {}, seed=0))
    policy = TimingPolicy(min_calls=calls, max_calls=calls, max_time_s=600, min_time_s=0.0, rel_ci=1e-9)
    ours: list[np.ndarray] = []
    bare: list[np.ndarray] = []
    for _ in range(rounds):
        ours.append(np.asarray(measure(backend.run, prepared, policy).samples_ns, dtype=np.int64))
        for _ in range(policy.warmup_calls):  # the same warm-up before the bare loop
            backend.run(prepared)
        bare.append(np.asarray(_bare_loop(backend.run, prepared, calls), dtype=np.int64))
    med = statistics.median(
        float(np.median(o)) / float(np.median(b)) for o, b in zip(ours, bare, strict=True)
    )
    p99 = statistics.median(
        float(np.percentile(o, 99)) / float(np.percentile(b, 99)) for o, b in zip(ours, bare, strict=True)
    )
    return med, p99


def _cold_over_warm() -> dict[str, float]:
    records = hepinfer.bench(
        "linear_event",
        backends=["onnxruntime"],
        reference="onnxruntime",
        options={"onnxruntime": {"iobinding": ["false", "true"]}},
        max_time_s=2,
    )
    out = {}
    for r in records:
        name = "iobinding" if r["key"]["options"].get("iobinding") else "plain"
        out[name] = r["one_off"]["cold_over_warm"]
    return out


def _sofie() -> float | None:
    (_, record) = hepinfer.bench("linear_event", backends=["onnxruntime", "sofie"], max_time_s=2)
    native = record.get("stats", {}).get("native")
    if record["status"] != "ok" or not native:
        return None
    return float(record["stats"]["median_ns"]) / float(native["median_ns"])


def main() -> None:
    """Print the ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=20000)
    args = p.parse_args()
    print(f"peak_rss_zoo_worker/bare_ort: {_peak_rss_ratio():.3f}   (target <= 1.10)")
    med, p99 = _loops(args.rounds, args.calls)
    print(f"p99_hepinfer/bare: {p99:.3f}   (target <= 1.15)")
    print(f"median_hepinfer/bare: {med:.3f}   (target <= 1.05)")
    cold = _cold_over_warm()
    print(f"cold_over_warm_iobinding: {cold.get('iobinding', float('nan')):.2f}")
    print(f"cold_over_warm_plain: {cold.get('plain', float('nan')):.2f}")
    sofie = _sofie()
    print(f"sofie_ctypes/native: {sofie:.3f}" if sofie else "sofie_ctypes/native: unavailable")
    print(json.dumps({"rounds": args.rounds, "calls": args.calls}))


if __name__ == "__main__":
    main()
