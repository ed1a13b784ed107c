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
    from rich.console import Console

    from hepinfer.errors import ConfigurationError
    from hepinfer.report.compare import compare_files, compare_table

    if not 0 < ns.alpha < 1:
        raise ConfigurationError(f"--alpha {ns.alpha}: must be between 0 and 1")
    if ns.min_change < 0:
        raise ConfigurationError(f"--min-change {ns.min_change}: must be 0 or more")
    result = compare_files(Path(ns.a), Path(ns.b), force=ns.force, alpha=ns.alpha, min_change=ns.min_change)
    console = Console()
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(compare_table(result, title=f"{ns.b} vs {ns.a}"))
    for what, items in (("only in A", result.only_a), ("only in B", result.only_b)):
        if items:
            shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
            console.print(f"{len(items)} configuration(s) {what}: {shown}")
    counts = {v: sum(r["verdict"] == v for r in result.rows) for v in ("faster", "slower")}
    console.print(
        f"B is faster in {counts['faster']}, slower in {counts['slower']}, "
        f"not significantly different in {len(result.rows) - sum(counts.values())} "
        f"of {len(result.rows)} configurations"
    )
    return 0
