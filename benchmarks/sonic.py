"""The SONIC study: in-process inference against the same backend served by Triton.

    PYTHONPATH=src python benchmarks/sonic.py [MODEL ...] [--clients 1,2,4,8] [--seconds 1]
        [--batch 1] [--protocol grpc] [--delay-us 500]

For each model (default: linear_event, a small dense net, and particlenet, a large GNN
tagger), with ONNX Runtime (1 thread per session, as in CMSSW) in process and behind a
tritonserver started here on 127.0.0.1:
- latency per request at 1 client (median and p90 of back-to-back calls);
- throughput (requests/s) with 1, 2, 4, 8 concurrent clients (threads of this process
  sharing one session / one triton backend), served without and with dynamic batching;
- the server's split of a served request: queue, compute and the rest (network,
  serialisation, the Python backend's hop);
- the ratio served / in-process, and at which client count serving wins, if it does.

Figures depend on the machine and its load: serving moves inference to another process (on
another machine, a GPU, in production), which only pays where the client's cores are the
bottleneck and the server's are not. On one small CPU machine it measures the overhead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.base import Backend
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend
from hepinfer.backends.triton import TritonBackend
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.serve.repository import ServedModel, write_repository
from hepinfer.serve.server import TritonServer, find_tritonserver
from hepinfer.zoo import build_inputs, model_ref, spec_of


def latency(backend: Backend, prepared: Any, seconds: float) -> tuple[float, float, int]:
    """Median and p90 of back-to-back calls, us, and the number of calls."""
    for _ in range(5):
        backend.run(prepared)
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter_ns()
        backend.run(prepared)
        samples.append(time.perf_counter_ns() - t0)
    arr = np.array(samples) / 1e3
    return float(np.median(arr)), float(np.percentile(arr, 90)), len(samples)


def throughput(backend: Backend, prepared: list[Any], clients: int, seconds: float) -> float:
    """Requests per second with ``clients`` threads calling back to back."""
    counts = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(i: int) -> None:
        p = prepared[i % len(prepared)]
        backend.run(p)  # the thread's connection, before the clock starts
        barrier.wait()
        n = 0
        while not stop.is_set():
            backend.run(p)
            n += 1
        counts[i] = n

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def study(name: str, args: argparse.Namespace, binary: Path, workdir: Path) -> dict[str, Any]:
    """Every figure for one model."""
    ref = model_ref(name)
    spec = spec_of(ref)
    dims = spec.resolve_dims({})
    artifact = ModelArtifact(ref=ref, spec=spec)
    artifact.onnx_path()
    sets = [build_inputs(ref, spec, args.batch, dims, seed) for seed in range(8)]
    local = OnnxRuntimeBackend()
    local.load(artifact, OnnxRuntimeBackend.Options())
    out: dict[str, Any] = {"model": name, "in-process": {}, "served": {}, "batched": {}}
    prepared = [local.prepare(s) for s in sets]
    out["in-process"]["latency"] = latency(local, prepared[0], args.seconds)
    for c in args.clients:
        out["in-process"][c] = throughput(local, prepared, c, args.seconds)
    for label, dynamic in (("served", False), ("batched", True)):
        served = ServedModel(
            ref=ref, spec=spec, dynamic_batching=dynamic, max_queue_delay_us=args.delay_us, instances=1
        )
        where = workdir / label / name
        repo = write_repository(where / "repository", [served])
        with TritonServer(repo, where, binary) as server:
            remote = TritonBackend()
            url = server.endpoints()[args.protocol]
            remote.load(artifact, TritonBackend.Options.from_strings("triton", {"server": url}))
            rprep = [remote.prepare(s) for s in sets]
            out[label]["latency"] = latency(remote, rprep[0], args.seconds)
            out[label]["split"] = remote.after_timing(rprep[0])["timing"]["breakdown"]
            for c in args.clients:
                since = remote._statistics()
                out[label][c] = throughput(remote, rprep, c, args.seconds)
                split = remote.breakdown(since)
                out[label][f"batch{c}"] = split["requests"] / max(1, split["executions"])
    return out


def report(res: dict[str, Any], clients: list[int], batch: int) -> None:
    """Print one model's figures."""
    print(f"\n== {res['model']} (batch {batch} per request, ONNX Runtime 1 thread per session)")
    print(f"{'':24}{'median us':>11}{'p90 us':>10}")
    for label in ("in-process", "served", "batched"):
        med, p90, _ = res[label]["latency"]
        print(f"latency {label:16}{med:11.1f}{p90:10.1f}")
    split = res["served"]["split"]
    if split.get("available"):
        queue, compute, rest = (split[k] / 1e3 for k in ("queue_ns", "compute_ns", "rest_ns"))
        print(
            f"served request split (us): queue {queue:.1f}, compute {compute:.1f}, "
            f"rest (network, serialisation, python-backend hop) {rest:.1f}"
        )
    print(f"{'requests/s':24}" + "".join(f"{c:>10} cl" for c in clients))
    for label in ("in-process", "served", "batched"):
        print(f"{label:24}" + "".join(f"{res[label][c]:13.0f}" for c in clients))
    print(f"{'batched: requests/exec':24}" + "".join(f"{res['batched'][f'batch{c}']:13.2f}" for c in clients))
    for label in ("served", "batched"):
        ratios = "".join(f"{res[label][c] / res['in-process'][c]:13.3f}" for c in clients)
        print(f"{label + ' / in-process':24}" + ratios)
    # A win is a margin beyond run-to-run noise (5%), not a tie.
    ratio = {c: max(res["served"][c], res["batched"][c]) / res["in-process"][c] for c in clients}
    wins = [c for c in clients if ratio[c] > 1.05]
    ties = [c for c in clients if 0.95 <= ratio[c] <= 1.05]
    if wins:
        print(f"crossover: serving wins from {wins[0]} clients")
    elif ties:
        print(f"crossover: serving on par (within 5%) at {ties} clients; it never wins here")
    else:
        print("crossover: serving never wins here")


def main(argv: list[str]) -> int:
    """Run the study and print it."""
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", default=["linear_event", "particlenet"])
    p.add_argument("--clients", default="1,2,4,8")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    p.add_argument("--delay-us", type=int, default=500, help="dynamic batcher's max queue delay")
    p.add_argument("--tritonserver", help="the tritonserver binary")
    a = p.parse_args(argv)
    a.clients = [int(c) for c in a.clients.split(",")]
    binary = find_tritonserver(a.tritonserver)
    with tempfile.TemporaryDirectory(prefix="hepinfer-sonic-") as tmp:
        for name in a.models:
            report(study(name, a, binary, Path(tmp)), a.clients, a.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
