"""Event-loop ratios: batching the jets of an event, sharing a session, adding threads.

    PYTHONPATH=src python benchmarks/eventloop.py [MODEL] [--events N] [--threads 1,2,4]

Prints, per backend: events/s of one batched call per event over one call per jet (CMS saw
3-4x), the scaling efficiency of each mode against 1 thread, and the memory one more session
costs (what per-thread mode pays and shared mode saves). Timings depend on the machine and
its load; run it on a quiet machine with as many cores as the largest thread count.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Any

from hepinfer.runner.eventloop import EventLoopRequest, run_eventloop


def main(argv: list[str]) -> int:
    """Run the grid and print the ratios."""
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?", default="linear_event")
    p.add_argument("--backend", default="onnxruntime,pytorch")
    p.add_argument("--events", type=int, default=500)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--objects", default="ak4-ttbar")
    a = p.parse_args(argv)
    request = EventLoopRequest(
        model=a.model,
        backends=a.backend.split(","),
        threads=[int(t) for t in a.threads.split(",")],
        events=a.events,
        objects=a.objects,
        strategies=("per-event", "per-object"),
    )
    records = [r for r in run_eventloop(request) if r["status"] == "ok"]
    by: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        k = r["key"]
        by[(k["backend"], k["mode"], k["threads"])][k["strategy"]] = r
    print(f"model {a.model}, {a.objects} objects per event, {a.events} events per configuration")
    print(
        f"{'backend':12} {'mode':10} {'N':>2} {'ev/s batched':>13} {'ev/s per jet':>13} "
        f"{'batching x':>10} {'efficiency':>10} {'MB/session':>10} {'warnings'}"
    )
    for (backend, mode, n), pair in sorted(by.items()):
        ev, jet = pair.get("per-event"), pair.get("per-object")
        ratio = ev["stats"]["events_per_s"] / jet["stats"]["events_per_s"] if ev and jet else None
        eff = ev["stats"]["scaling_efficiency"] if ev else None
        mb = ev["memory"]["rss_per_session"] / 2**20 if ev else None
        warnings = "; ".join((ev or jet or {}).get("warnings", []))
        print(
            f"{backend:12} {mode:10} {n:>2} "
            f"{ev['stats']['events_per_s'] if ev else float('nan'):>13.0f} "
            f"{jet['stats']['events_per_s'] if jet else float('nan'):>13.0f} "
            f"{'' if ratio is None else f'{ratio:.2f}':>10} "
            f"{'' if eff is None else f'{eff:.0%}':>10} "
            f"{'' if mb is None else f'{mb:.1f}':>10} {warnings}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
