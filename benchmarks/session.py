"""The Session's own overhead: ``Session(inputs)`` vs the raw backend call it wraps (target <= 1.05).

linear_event (the smallest zoo model: a 20 us call at batch 16, the worst case for a fixed
per-call cost) and deepjet (a particle-list tagger) on ONNX Runtime, one thread, at batch 16
and 256. The raw call is ``InferenceSession.run`` on the very session the Session loaded, with
the same numpy feeds: what an analysis would write by hand. The two are timed alternately, call
by call, in rounds, so that machine noise hits both alike; the ratio of the medians of the
round medians is printed. What the Session adds per call on this path (numpy inputs in the
model's names, dtypes, C-contiguous) is one pass over the inputs and ``Backend.call``, which on
ONNX Runtime is ``InferenceSession.run`` on them as they are (no ``prepare``/``fetch``), and
the outputs' dict by name.

Both sides do the same useful work: one inference on the same session and feeds, outputs that
the caller owns (ONNX Runtime returns fresh arrays; the Session copies nothing on top). The raw
side keeps ONNX Runtime's own per-call input check (the public ``run``) and returns its list,
so the Session's name check, dtype check and dict are all counted as overhead.

    python benchmarks/session.py [--rounds 7] [--calls 3000] [--model linear_event,deepjet]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import hepinfer
from hepinfer.zoo import build_inputs


def paired_ns(first: Callable[[], Any], second: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Medians of the two calls timed alternately, call by call (drift hits both alike)."""
    pc = time.perf_counter_ns
    a, b = [], []
    for _ in range(calls):
        t0 = pc()
        first()
        t1 = pc()
        second()
        t2 = pc()
        a.append(t1 - t0)
        b.append(t2 - t1)
    return statistics.median(a), statistics.median(b)


def main() -> None:
    """Print the medians and ``session/raw: ratio`` per batch size."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--model", default="linear_event,deepjet")
    args = p.parse_args()
    for model in args.model.split(","):
        measure(model, args.rounds, args.calls)


def measure(model: str, rounds: int, calls: int) -> None:
    """One model: the Session's call against the raw call, at batch 16 and 256."""
    session = hepinfer.Session(model, backend="onnxruntime", threads=1)
    ort = session._first.session  # the InferenceSession inside: the raw call, same model
    names = [o.name for o in ort.get_outputs()]
    for batch in (16, 256):
        feeds = build_inputs(session.ref, session.spec, batch, session.dims, seed=0)
        for _ in range(200):  # warm both paths
            session(feeds)
            ort.run(names, feeds)
        wrapped, raw = [], []
        _, once = paired_ns(lambda f=feeds: session(f), lambda f=feeds: ort.run(names, f), 20)
        n = max(20, min(calls, int(2e9 / max(once, 1)) // rounds))
        for _ in range(rounds):
            w, r = paired_ns(lambda f=feeds: session(f), lambda f=feeds: ort.run(names, f), n)
            wrapped.append(w)
            raw.append(r)
        w, r = statistics.median(wrapped), statistics.median(raw)
        print(f"{model} batch {batch}: session {w / 1e3:.2f} us, raw {r / 1e3:.2f} us ({n} calls x {rounds})")
        print(f"session/raw: {w / r:.3f} ({model}, batch {batch}, target <= 1.05)")


if __name__ == "__main__":
    main()
