"""``hepinfer sweep CONFIG.yaml``: a resumable grid of benchmarks, locally or on a Dask cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the sweep command."""
    p.add_argument(
        "config",
        metavar="CONFIG.yaml",
        help="the grid (see docs/sweeps.md and hepinfer/schemas/sweep.schema.json)",
    )
    p.add_argument("--out", help="JSON Lines results file (default: the config's 'out', else CONFIG.jsonl)")
    p.add_argument(
        "--resume", action="store_true", help="skip the configurations the results file already holds"
    )
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="with --resume, run again the configurations whose last record is an error",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="run on this Dask scheduler; its workers need '--resources benchmark=1'",
    )
    p.add_argument("--max-time", type=float, help="override timing.max_time_s of the config")
    p.add_argument(
        "--dry-run", action="store_true", help="check the config, list the configurations, run nothing"
    )


def execute(ns: argparse.Namespace) -> int:
    """Load and check the configuration, then run it with a progress bar and ETA."""
    from rich.console import Console

    import hepinfer
    from hepinfer.cli.progress import outcome, steps
    from hepinfer.errors import ConfigurationError
    from hepinfer.results.schema import Key
    from hepinfer.runner import sweep as runner

    if ns.retry_errors and not ns.resume:
        raise ConfigurationError("--retry-errors goes with --resume")
    overrides = {"max_time_s": ns.max_time} if ns.max_time is not None else {}
    config = Path(ns.config)
    the_sweep = runner.load(config, overrides)
    out = Path(ns.out) if ns.out else the_sweep.out or config.with_suffix(".jsonl")
    keys = the_sweep.keys
    if ns.dry_run:
        for k in keys:
            print(f"{k.model}\t{k.label()}\tbatch {k.batch}\tthreads {k.threads}\t{k.device}")
        print(f"{len(keys)} configurations in {len(the_sweep.groups)} groups", file=sys.stderr)
        return 0
    done = runner.done_keys(out, ns.retry_errors) & set(keys) if ns.resume else set()
    err_console = Console(stderr=True)
    if done:
        err_console.print(f"resuming: {len(done)} of {len(keys)} configurations already in {out}")
    failed = 0
    with steps(len(keys), done=len(done), eta=True) as progress:

        def on_start(key: Key) -> None:
            progress.start(f"{key.model} {key.label()} batch {key.batch} threads {key.threads}")

        def on_record(record: dict[str, Any]) -> None:
            nonlocal failed
            failed += record["status"] != "ok"
            k = record["key"]
            name = f"{k['model']} {k['backend']} batch {k['batch']} threads {k['threads']}"
            progress.finish(outcome(record), name=name)

        try:
            records = hepinfer.sweep(
                the_sweep,
                out,
                resume=ns.resume,
                retry_errors=ns.retry_errors,
                scheduler=ns.scheduler,
                on_start=on_start,
                on_record=on_record,
            )
        except KeyboardInterrupt:
            print(
                f"hepinfer: interrupted; the records in {out} are complete: "
                f"'hepinfer sweep {ns.config} --out {out} --resume' goes on",
                file=sys.stderr,
            )
            return 130
    print(f"{len(records)} records appended to {out} ({len(done)} skipped as done)", file=sys.stderr)
    if failed:
        print(
            f"hepinfer: {failed} of {len(records)} configurations failed; 'hepinfer report {out}' lists why",
            file=sys.stderr,
        )
        return 1
    return 0
