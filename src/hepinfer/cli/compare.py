"""``hepinfer compare A.jsonl [B.jsonl] [--by AXIS[=BASE]]``: per configuration, is B faster,
slower, or not distinguishable from A, on the statistics of their worker processes?"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the compare command."""
    p.add_argument("a", metavar="A.jsonl", help="the baseline results")
    p.add_argument(
        "b",
        metavar="B.jsonl",
        nargs="?",
        help="the results compared with the baseline (default with --by: A itself)",
    )
    p.add_argument(
        "--by",
        metavar="AXIS[=BASE]",
        help="compare along one field of the key instead of between equal keys: backend, batch, "
        "threads, options, model, device or exporter; each other value in B is compared with "
        "BASE in A (default BASE: the smallest number, else the first value in A), e.g. "
        "--by threads=1",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="compare records from different machines or library versions anyway",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="significance level of the Welch t-test on the per-process medians, and 1 - the "
        "confidence of the ratio's interval (default: %(default)s)",
    )
    p.add_argument(
        "--min-change",
        type=float,
        default=0.02,
        help="smallest relative change of the ratio called a change (default: %(default)s)",
    )


def execute(ns: argparse.Namespace) -> int:
    """Print the comparison table; exit 0 (differences are findings, not errors)."""
    from rich.markup import escape

    from hepinfer.errors import ConfigurationError
    from hepinfer.report.compare import compare_files, compare_table, summary_lines
    from hepinfer.report.console import stdout_console

    if not 0 < ns.alpha < 1:
        raise ConfigurationError(f"--alpha {ns.alpha}: must be between 0 and 1")
    if ns.min_change < 0:
        raise ConfigurationError(f"--min-change {ns.min_change}: must be 0 or more")
    b = Path(ns.b) if ns.b else None
    result = compare_files(Path(ns.a), b, force=ns.force, alpha=ns.alpha, min_change=ns.min_change, by=ns.by)
    by = result.by
    console = stdout_console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    title = f"{ns.b or ns.a} vs {ns.a}" + (f", along {by}" if by else "")
    console.print(compare_table(result, title=title, alpha=ns.alpha))
    for line in summary_lines(result):
        console.print(escape(line))
    return 0
