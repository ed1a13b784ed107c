"""SOFIE timed two ways: the ctypes call hepinfer's loop times vs the C++ loop in the library.

Linear_event (rootbench) at batch 1, one thread, built the parent's way (``prebuild``) and
opened as a worker opens it. Both loops time the same Session on the same buffers in this
process, interleaved in rounds so that machine noise hits both alike. Then the peak RSS of a
fresh worker process that is handed the built library, beside one that builds it itself.

    python benchmarks/sofie_loop.py [--rounds 7] [--calls 20000] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hepinfer.backends.sofie import SofieBackend, SofieOptions
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.measure.timer import TimingPolicy, time_calls, timer_overhead_ns, warm_up
from hepinfer.zoo import build_inputs, model_ref, spec_of

LINEAR = Path(__file__).resolve().parents[2] / "shared" / "models" / "rootbench" / "Linear_event.onnx"

# A worker in miniature: load (handed a build or not), prepare, one call; its peak RSS.
_CHILD = """
import json, resource, sys
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.backends.sofie import SofieBackend, SofieOptions
from hepinfer.zoo import build_inputs, model_ref, spec_of
ref = model_ref(sys.argv[1]); spec = spec_of(ref)
artifact = ModelArtifact(ref=ref, spec=spec, conversions=json.loads(sys.argv[2]))
backend = SofieBackend()
backend.load(artifact, SofieOptions())
prepared = backend.prepare(build_inputs(ref, spec, 1, {}, seed=0))
backend.run(prepared)
print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sofie_imported": "sofie" in sys.modules,
                  "built_in": backend.settings()["built_in"]}))
"""


def child_rss(model: str, conversions: dict[str, Any], cache: str) -> dict[str, Any]:
    """Peak RSS and what a fresh worker process imported."""
    env = {**os.environ, "HEPINFER_CACHE": cache}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, model, json.dumps(conversions)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Print the medians and the ratios as ``name: value`` lines."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--model", default=str(LINEAR) if LINEAR.exists() else "linear_event")
    args = p.parse_args()

    ref = model_ref(args.model)
    spec = spec_of(ref)
    artifact = ModelArtifact(ref=ref, spec=spec)
    options = SofieOptions(threads=1)
    build = SofieBackend.prebuild(artifact, options, spec.shapes(1, {}))
    backend = SofieBackend()
    backend.load(artifact, options)
    prepared = backend.prepare(build_inputs(ref, spec, 1, {}, seed=0))
    policy = TimingPolicy(min_calls=args.calls, max_calls=args.calls, max_time_s=600, rel_ci=1e-9)
    warm_up(backend.run, prepared, policy, None)
    backend.native_timing(prepared, 1000, warmup=1000)

    via_ctypes, native = [], []
    for _ in range(args.rounds):
        samples, _ = time_calls(backend.run, prepared, policy)  # the worker's loop
        via_ctypes.append(statistics.median(samples))
        native.append(statistics.median(backend.native_timing(prepared, args.calls)))
    c, n = statistics.median(via_ctypes), statistics.median(native)
    print(f"model: {Path(args.model).name} batch 1, threads 1, {args.rounds} rounds x {args.calls} calls")
    print(f"build: generate {build.generate_s:.3f} s, compile {build.compile_s:.3f} s, cached {build.cached}")
    print(f"ctypes_median_ns: {c:.0f}  (per round: {', '.join(f'{x:.0f}' for x in via_ctypes)})")
    print(f"native_median_ns: {n:.0f}  (per round: {', '.join(f'{x:.0f}' for x in native)})")
    print(f"python_timer_overhead_ns: {timer_overhead_ns():.0f}")
    print(f"native_timer_overhead_ns: {backend.native_timer_overhead_ns():.0f}")
    print(f"ctypes/native: {c / n:.3f}")

    with tempfile.TemporaryDirectory() as empty:
        handed = child_rss(args.model, artifact.conversions, empty)
        itself = child_rss(args.model, {}, empty)  # an empty cache: this worker generates and compiles
    for label, child in (("handed the build", handed), ("building itself", itself)):
        rss, imported = child["peak_rss_kib"], child["sofie_imported"]
        print(f"worker {label}: peak RSS {rss} KiB, sofie imported {imported}")
    print(f"rss building/handed: {itself['peak_rss_kib'] / handed['peak_rss_kib']:.3f}")


if __name__ == "__main__":
    main()
