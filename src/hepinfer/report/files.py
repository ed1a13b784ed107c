"""The report's files from results files: HTML, Markdown, CSV and the plots, each optional."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError


@dataclass(frozen=True)
class Written:
    """What a report wrote: the files, and how many configurations it covers."""

    configurations: int
    paths: list[Path] = field(default_factory=list)


def write_all(
    results: Sequence[Path],
    html: Path | None = None,
    md: Path | None = None,
    csv: Path | None = None,
    plots: Path | None = None,
) -> Written:
    """Read the records (latest per configuration) and write what was asked for: the files
    written (each plot as PNG and PDF, then the page, the Markdown and the CSV)."""
    from hepinfer.report import html as page
    from hepinfer.report import markdown
    from hepinfer.report.data import load

    if not (html or md or csv or plots):
        raise ConfigurationError("nothing to write: give --html FILE, --md FILE, --csv FILE or --plots DIR")
    records = load(list(results))
    written: list[Path] = []
    figs: dict[str, list[Any]] | None = None
    if plots or html:
        from hepinfer.report.plots import figures, save_all

        figs = figures(records)  # drawn once for the files and the page
    if plots:
        written += save_all(records, plots, figs)
    if html:
        written.append(page.write(records, html, sources=[str(p) for p in results], figs=figs))
    if md:
        written.append(markdown.write(records, md, plots_dir=plots, figs=figs))
    if csv:
        written.append(markdown.write_csv(records, csv))
    return Written(len(records), written)
