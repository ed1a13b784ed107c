"""``hepinfer report RESULTS.jsonl --html report.html``: a shareable page, tables and plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the report command."""
    p.add_argument(
        "results", nargs="+", metavar="RESULTS.jsonl", help="results files (records of all are merged)"
    )
    p.add_argument("--html", help="write one self-contained HTML page (plots embedded)")
    p.add_argument("--md", help="write a Markdown report (plots linked from --plots DIR when given)")
    p.add_argument("--csv", help="write one CSV row per configuration")
    p.add_argument("--plots", metavar="DIR", help="write every plot as PNG and PDF into DIR")


def run(ns: argparse.Namespace) -> int:
    """Read the records (latest per configuration) and write what was asked for."""
    from hepinfer.errors import ConfigurationError
    from hepinfer.report import html, markdown
    from hepinfer.report.data import load

    if not (ns.html or ns.md or ns.csv or ns.plots):
        raise ConfigurationError("nothing to write: give --html FILE, --md FILE, --csv FILE or --plots DIR")
    records = load([Path(p) for p in ns.results])
    written = []
    figs = None
    if ns.plots or ns.html:
        from hepinfer.report.plots import figures, save_all

        figs = figures(records)  # drawn once for the files and the page
    if ns.plots:
        written += [str(p) for p in save_all(records, Path(ns.plots), figs)]
    if ns.html:
        html.write(records, Path(ns.html), sources=ns.results, figs=figs)
        written.append(ns.html)
    if ns.md:
        markdown.write(records, Path(ns.md), plots_dir=Path(ns.plots) if ns.plots else None)
        written.append(ns.md)
    if ns.csv:
        markdown.write_csv(records, Path(ns.csv))
        written.append(ns.csv)
    for path in written:
        print(path)
    print(f"report of {len(records)} configurations", file=sys.stderr)
    return 0
