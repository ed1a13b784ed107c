"""``hepinfer eventloop MODEL_OR_PATH``: framework threads sharing sessions, event after event."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.cli.args import print_json_lines
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the eventloop command."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name or an .onnx file")
    p.add_argument("--backend", default="onnxruntime", help="comma-separated backends")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts N")
    p.add_argument(
        "--mode",
        default="shared,per-thread,intra-op",
        help="shared: N threads, one 1-thread session (CMSSW); per-thread: one session per "
        "thread; intra-op: one thread, one N-thread session (default: %(default)s)",
    )
    p.add_argument("--events", type=int, default=1000, help="events per configuration")
    p.add_argument(
        "--objects",
        default="one",
        help="objects (jets) per event: one, ak4-ttbar (Poisson 6.5, 2-20), ak8-qcd (Poisson 2, "
        "1-8), fixed:K or poisson:MEAN[:MIN[:MAX]] (default: %(default)s)",
    )
    p.add_argument(
        "--strategy",
        default="per-event,per-object",
        help="per-event: one batched call per event; per-object: one call per object "
        "(default: %(default)s; one of them when there is one object per event)",
    )
    parse.add_model_arguments(
        p,
        "backend option, one value (e.g. onnxruntime.spinning=false)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the events (default: %(default)s)")
    p.add_argument("--pool", type=int, default=64, help="distinct events prepared")
    p.add_argument("--warmup-events", type=int, default=5, help="untimed events per thread")
    p.add_argument(
        "--max-time",
        type=float,
        help="cap on each configuration's timed loop, s (stops before --events if reached)",
    )
    p.add_argument("--out", default="hepinfer-results.jsonl", help="JSON Lines file for the records")
    p.add_argument("--timeout", type=float, default=900.0, help="per-configuration worker timeout, s")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the records as JSON Lines (one record per line, as appended to --out) "
        "instead of the table; progress and messages go to stderr",
    )


def request_from(ns: argparse.Namespace) -> Any:
    """The EventLoopRequest the arguments describe (checked later by plan)."""
    from hepinfer.runner.eventloop import EventLoopRequest

    if ns.timeout <= 0:
        raise ConfigurationError(f"--timeout {ns.timeout}: must be positive")
    if ns.pool < 1 or ns.warmup_events < 0:
        raise ConfigurationError("--pool must be 1 or more and --warmup-events 0 or more")
    options: dict[str, dict[str, str]] = {}
    for backend, values in parse.options(ns.option).items():
        for key, vals in values.items():
            if len(vals) != 1:
                raise ConfigurationError(f"--option {backend}.{key}: give one value per option")
            options.setdefault(backend, {})[key] = vals[0]
    return EventLoopRequest(
        model=ns.model,
        backends=_names(ns.backend),
        threads=parse.int_list(ns.threads, "--threads"),
        modes=_names(ns.mode),
        events=ns.events,
        objects=ns.objects,
        strategies=_names(ns.strategy),
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=options,
        exporter=ns.exporter,
        seed=ns.seed,
        pool=ns.pool,
        warmup_events=ns.warmup_events,
        max_time_s=ns.max_time,
        timeout_s=ns.timeout,
    )


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def execute(ns: argparse.Namespace) -> int:
    """Plan (fail fast), warn about oversubscription, run each configuration, print the table."""
    from rich.console import Console

    from hepinfer.cli.progress import steps
    from hepinfer.runner import eventloop

    request = request_from(ns)
    loop_plan = eventloop.plan(request)
    err = Console(stderr=True)
    for note in loop_plan.notes:
        err.print(f"note: {note}")
    for warning in eventloop.oversubscription_warnings(loop_plan):
        err.print(f"warning: {warning}")
    out = Path(ns.out)
    with steps(len(loop_plan.configs)) as progress:

        def on_start(i: int, n: int, config: eventloop.Config) -> None:
            what = f"{config.backend} {config.strategy} {config.mode} N={config.threads}"
            progress.start(what, done=i, total=n)

        records = eventloop.run_eventloop(
            request, out=out, on_start=on_start, on_record=lambda r: progress.finish(_outcome(r))
        )
    if ns.json:
        print_json_lines(records)
    else:
        from hepinfer.report.console import stdout_console
        from hepinfer.report.eventloop import eventloop_table

        stdout_console().print(eventloop_table(records, title=f"hepinfer eventloop: {loop_plan.ref.label}"))
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records)} records appended to {out}", file=sys.stderr)
    if failed:
        print(f"hepinfer: {failed} of {len(records)} configurations failed", file=sys.stderr)
        return 1
    return 0


def _outcome(record: dict[str, Any]) -> str:
    """A finished configuration in a few words: events per second and the median per event."""
    from hepinfer.cli.progress import outcome

    if record.get("status") != "ok":
        return outcome(record)
    from hepinfer.report.cells import fmt_ns

    stats = record["stats"]
    return f"ok, {stats['events_per_s']:,.0f} events/s, {fmt_ns(stats['event']['median_ns'])} per event"
