"""``hepinfer bench MODEL_OR_PATH``: measure a model over backends, batch sizes and threads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.cli.args import print_json_lines
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the bench command."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name (see 'hepinfer zoo') or an .onnx file")
    p.add_argument(
        "--backend",
        default="onnxruntime,pytorch",
        help="comma-separated backends (default: %(default)s)",
    )
    p.add_argument("--batch", help="comma-separated batch sizes (default: the model's, usually 1)")
    p.add_argument(
        "--threads",
        default="1",
        help="comma-separated backend thread counts (default: %(default)s)",
    )
    parse.add_model_arguments(
        p,
        "backend option; several values make several configurations (e.g. onnxruntime.iobinding=false,true)",
    )
    p.add_argument(
        "--reference",
        help="backend whose outputs the others are compared with "
        "(default: pytorch for zoo models, onnxruntime for files)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the input builder (default: %(default)s)")
    p.add_argument(
        "--out",
        default="hepinfer-results.jsonl",
        help="JSON Lines file the records are appended to",
    )
    _add_timing_arguments(p)
    p.add_argument("--timeout", type=float, default=900.0, help="per-configuration worker timeout, s")
    parse.add_repeat_argument(p)
    p.add_argument(
        "--memray",
        action="store_true",
        help="heap profiles with memray of a fresh session's load and inference: peak heap, "
        "allocations by native library, HTML flame graphs in OUT-memray/ (slower)",
    )
    p.add_argument(
        "--data",
        metavar="FILE",
        help="also time reading + preprocessing + inference of events from this file "
        "(parquet from 'hepinfer data generate', or a testdata ROOT file)",
    )
    p.add_argument("--data-chunk", type=int, default=1000, help="events read per chunk with --data")
    p.add_argument("--data-events", type=int, help="read at most this many events with --data")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the records as JSON Lines (one record per line, as appended to --out) "
        "instead of the table; progress and messages go to stderr",
    )
    _add_model_file_arguments(p)


def _add_timing_arguments(p: argparse.ArgumentParser) -> None:
    """The timing policy: a time cap, and the stopping rule's minimum calls, time and CI width."""
    p.add_argument(
        "--max-time",
        type=float,
        default=10.0,
        help="time cap per configuration, s (default: %(default)s)",
    )
    p.add_argument("--min-calls", type=int, default=50, help="timed calls before the stopping rule applies")
    p.add_argument(
        "--min-time",
        type=float,
        default=1.0,
        help="seconds of timing before the stopping rule applies, so that a fast model gets a "
        "valid p99 (>= 1000 samples) (default: %(default)s)",
    )
    p.add_argument(
        "--rel-ci",
        type=float,
        default=0.01,
        help="stop when the median's 95%% CI is within +-this fraction (default: %(default)s)",
    )


def _add_model_file_arguments(p: argparse.ArgumentParser) -> None:
    """What a model file does not store: input shapes, or an ONNX twin to take them from."""
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=SHAPE",
        help="shape of an input a model file does not store (GraphDef, TorchScript, MXNet), "
        "batch first as B: --input input_1=B,1,27",
    )
    p.add_argument(
        "--like",
        metavar="FILE.onnx",
        help="the model's ONNX twin: its input and output shapes and names (and, with "
        "--exporter twin or for MXNet, the file the ONNX backends run)",
    )


def request_from(ns: argparse.Namespace) -> object:
    """The BenchRequest the arguments describe (checked later by plan)."""
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest

    if ns.timeout <= 0:
        raise ConfigurationError(f"--timeout {ns.timeout}: must be positive")
    return BenchRequest(
        model=ns.model,
        backends=[b.strip() for b in ns.backend.split(",") if b.strip()],
        batches=parse.int_list(ns.batch, "--batch") if ns.batch else None,
        threads=parse.int_list(ns.threads, "--threads"),
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=parse.options(ns.option),
        exporter=ns.exporter,
        seed=ns.seed,
        policy=TimingPolicy(
            max_time_s=ns.max_time, min_calls=ns.min_calls, min_time_s=ns.min_time, rel_ci=ns.rel_ci
        ),
        reference=ns.reference,
        timeout_s=ns.timeout,
        memray_dir=_memray_dir(ns),
        data=ns.data,
        data_chunk=ns.data_chunk,
        data_events=ns.data_events,
        repeat=ns.repeat,
        inputs=parse.pairs(ns.input, "--input"),
        like=ns.like,
    )


def _memray_dir(ns: argparse.Namespace) -> str | None:
    """Where --memray puts its profiles: OUT-memray/ beside the results file."""
    if not ns.memray:
        return None
    from hepinfer._optional import missing

    if reason := missing("memray", "--memray"):
        raise ConfigurationError(reason)
    out = Path(ns.out).resolve()
    return str(out.with_name(out.stem + "-memray"))


def execute(ns: argparse.Namespace) -> int:
    """Plan (fail fast on bad input), run with a progress bar, print the table."""
    from hepinfer.cli.progress import outcome, steps
    from hepinfer.report.table import bench_table, one_off_table
    from hepinfer.runner import bench

    request = request_from(ns)
    assert isinstance(request, bench.BenchRequest)
    bench_plan = bench.plan(request)  # raises before anything runs
    for note in bench_plan.spec.notes:
        print(f"hepinfer: note: {bench_plan.spec.name}: {note}", file=sys.stderr)
    out = Path(ns.out)
    with steps(bench_plan.n_runs) as progress:

        def on_start(i: int, n: int, key: object) -> None:
            assert isinstance(key, bench.Key)
            progress.start(f"{key.model} {key.label()} batch {key.batch} threads {key.threads}", i, n)

        def on_record(record: dict[str, Any]) -> None:
            progress.finish(outcome(record))

        records = bench.run_bench(bench_plan, out=out, on_start=on_start, on_record=on_record)
    if ns.json:
        print_json_lines(records)
    else:
        from hepinfer.report.console import stdout_console
        from hepinfer.report.crossover import crossover_lines  # GPU vs best CPU; silent without GPU records
        from hepinfer.report.reading import data_table

        console = stdout_console()
        console.print(bench_table(records, title=f"hepinfer bench: {bench_plan.ref.label}"))
        console.print(one_off_table(records))
        for line in crossover_lines(records):
            print(f"crossover: {line}")
        if request.data is not None:
            console.print(data_table(records))
    failed = sum(r["status"] != "ok" for r in records)
    print(f"{len(records)} records appended to {out}", file=sys.stderr)
    if request.memray_dir is not None:
        graphs = sorted(Path(request.memray_dir).glob("*.html"))
        print(f"memray: {len(graphs)} flame graph(s) in {request.memray_dir}", file=sys.stderr)
        for graph in graphs:
            print(f"  {graph}", file=sys.stderr)
    if failed:
        print(
            f"hepinfer: {failed} of {len(records)} configurations failed (see the table and the records)",
            file=sys.stderr,
        )
        return 1
    return 0
