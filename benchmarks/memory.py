"""Measured memory over the theoretical minimum, per model, backend and batch size.

measured = peak RSS during inference - RSS after imports and conversion (the model, its
session, the inputs and the working memory of the calls); minimum = ONNX weights + the peak of
live tensors (``hepinfer.convert.graph_minimum``). "weights" is the load delta over the weight
bytes, "activ." the inputs and inference deltas over the peak of live activations. The seeds
found ONNX Runtime within an order of magnitude of the minimum and PyTorch/Keras well above
it; this prints where we stand.

    python benchmarks/memory.py [--batch 1,64,1024] [--threads 1]
"""

from __future__ import annotations

import argparse

from hepinfer.measure.memory import fmt_bytes
from hepinfer.runner.memory import MemoryRequest, run_memory

MODELS = ("linear_event", "event_vae")
BACKENDS = ("onnxruntime", "pytorch")


def _x(ratio: float | None) -> str:
    return f"{ratio:.3g}x" if ratio else "-"


def main() -> None:
    """Print one line per (model, backend, batch): the parts of the memory and the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", default="1,64,1024")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calls", type=int, default=5)
    args = p.parse_args()
    batches = [int(b) for b in args.batch.split(",")]

    head = (
        f"{'model':14} {'backend':12} {'batch':>5} {'model':>9} {'inference':>10} "
        f"{'measured':>10} {'minimum':>10} {'ratio':>8} {'weights':>8} {'activ.':>8}"
    )
    if args.threads > 1:
        head += f" {'+thr shared':>12} {'+thr own':>10}"
    print(head)
    for model in MODELS:
        request = MemoryRequest(
            model=model, backends=BACKENDS, batches=batches, threads=args.threads, calls=args.calls
        )
        for r in run_memory(request):
            k = r["key"]
            if r["status"] != "ok":
                print(f"{model:14} {k['backend']:12} {k['batch']:>5} error: {r['error']['message']}")
                continue
            m = r["memory"]
            minimum = m.get("minimum", {})
            ratio = minimum.get("ratio")
            line = (
                f"{model:14} {k['backend']:12} {k['batch']:>5} "
                f"{fmt_bytes(m['deltas']['model']):>9} "
                f"{fmt_bytes(m['deltas']['inference']):>10} {fmt_bytes(m['measured_bytes']):>10} "
                f"{fmt_bytes(minimum.get('total_bytes')):>10} "
                f"{_x(ratio):>8} {_x(minimum.get('weights_ratio')):>8} "
                f"{_x(minimum.get('activations_ratio')):>8}"
            )
            if args.threads > 1:
                s = r["sessions"]
                line += (
                    f" {fmt_bytes(s.get('extra_per_thread_shared')):>12}"
                    f" {fmt_bytes(s.get('extra_per_thread_separate')):>10}"
                )
            print(line)


if __name__ == "__main__":
    main()
