"""``hepinfer report RESULTS.jsonl --html report.html``: a shareable page, tables and plots."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the report command."""
    p.add_argument(
        "results", nargs="+", metavar="RESULTS.jsonl", help="results files (records of all are merged)"
    )
    p.add_argument("--html", help="write one self-contained HTML page (plots embedded)")
    p.add_argument("--md", help="write a Markdown report (plots linked from --plots DIR when given)")
    p.add_argument("--csv", help="write one CSV row per configuration")
    p.add_argument("--plots", metavar="DIR", help="write every plot as PNG and PDF into DIR")


def execute(ns: argparse.Namespace) -> int:
    """Read the records (latest per configuration) and write what was asked for."""
    import hepinfer

    written = hepinfer.write_report(ns.results, html=ns.html, md=ns.md, csv=ns.csv, plots=ns.plots)
    for path in written.paths:
        print(path)
    print(f"report of {written.configurations} configurations", file=sys.stderr)
    return 0
