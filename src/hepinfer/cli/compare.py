"""``hepinfer compare A.jsonl B.jsonl``: per configuration, is B faster, slower, or the same?"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the compare command."""
    p.add_argument("a", metavar="A.jsonl", help="the baseline results")
    p.add_argument("b", metavar="B.jsonl", help="the results compared with the baseline")
    p.add_argument(
        "--force",
        action="store_true",
        help="compare records from different machines or library versions anyway",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.01,
        help="significance level of the Mann-Whitney U test (default: %(default)s)",
    )
    p.add_argument(
        "--min-change",
        type=float,
        default=0.02,
        help="smallest relative change of the median called a change (default: %(default)s)",
    )


def run(ns: argparse.Namespace) -> int:
    """Print the comparison table; exit 0 (differences are findings, not errors)."""
    from rich.markup import escape

    from hepinfer.errors import ConfigurationError
    from hepinfer.report.compare import compare_files, compare_table, summary_lines
    from hepinfer.report.console import stdout_console

    if not 0 < ns.alpha < 1:
        raise ConfigurationError(f"--alpha {ns.alpha}: must be between 0 and 1")
    if ns.min_change < 0:
        raise ConfigurationError(f"--min-change {ns.min_change}: must be 0 or more")
    result = compare_files(Path(ns.a), Path(ns.b), force=ns.force, alpha=ns.alpha, min_change=ns.min_change)
    console = stdout_console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(compare_table(result, title=f"{ns.b} vs {ns.a}"))
    for line in summary_lines(result):
        console.print(escape(line))
    return 0
