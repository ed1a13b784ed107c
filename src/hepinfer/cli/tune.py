"""``hepinfer tune MODEL --budget 10m``: search the configurations, write the one to deploy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hepinfer.cli import args as parse
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the tune command."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name (see 'hepinfer zoo') or an .onnx file")
    p.add_argument("--budget", required=True, help="time for the whole search: 90s, 10m, 1h")
    p.add_argument("--backend", default="onnxruntime", help="comma-separated backends (default: %(default)s)")
    p.add_argument("--batch", help="comma-separated batch sizes (default: the model's, usually 1)")
    p.add_argument("--threads", default="1", help="comma-separated thread counts (default: %(default)s)")
    parse.add_model_arguments(p, "backend option values to search, e.g. onnxruntime.iobinding=false,true")
    p.add_argument(
        "--objective",
        choices=("median", "p99", "throughput", "memory"),
        default="median",
        help="per-event median, per-event p99 (valid from 1000 samples), sustained events/s, "
        "or peak RSS (default: %(default)s)",
    )
    p.add_argument(
        "--require",
        action="append",
        choices=("agreement",),
        default=[],
        help="agreement: a candidate whose agreement is not known to be good is out too "
        "(one whose answers differ beyond tolerance is always out)",
    )
    p.add_argument(
        "--max-memory", type=float, metavar="MiB", help="a candidate whose peak RSS passes this is out"
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="worker processes per finalist in the final (default: %(default)s, at least 4)",
    )
    p.add_argument("--reference", help="backend whose outputs the candidates are compared with")
    p.add_argument("--seed", type=int, default=0, help="seed of the input builder (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900.0, help="per-worker timeout, s")
    p.add_argument(
        "--out",
        default="deploy.json",
        help="the deploy document; the search state goes beside it as NAME.tune.jsonl "
        "(a killed search resumes from it) (default: %(default)s)",
    )


def execute(ns: argparse.Namespace) -> int:
    """Search, print each round as it goes, then the table of the search and the decision."""
    from rich.console import Console

    from hepinfer.report.tune import decision_lines, search_table
    from hepinfer.runner import tune

    if ns.timeout <= 0:
        raise ConfigurationError(f"--timeout {ns.timeout}: must be positive")
    request = tune.TuneRequest(
        model=ns.model,
        budget_s=tune.parse_budget(ns.budget),
        backends=[b.strip() for b in ns.backend.split(",") if b.strip()],
        batches=parse.int_list(ns.batch, "--batch") if ns.batch else None,
        threads=parse.int_list(ns.threads, "--threads"),
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=parse.options(ns.option),
        exporter=ns.exporter,
        seed=ns.seed,
        reference=ns.reference,
        objective=ns.objective,
        require_agreement="agreement" in ns.require,
        max_memory_mib=ns.max_memory,
        repeats=ns.repeats,
        timeout_s=ns.timeout,
    )
    out = Path(ns.out)
    doc = tune.tune(request, out, on_event=lambda text: print(text, file=sys.stderr, flush=True))
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(search_table(doc))
    for line in decision_lines(doc):
        console.print(line, highlight=False, markup=False)
    print(f"deploy document written to {out}; search state in {doc['search']['state_file']}", file=sys.stderr)
    return 0
