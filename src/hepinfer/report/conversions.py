"""The conversion matrices kept beside a results file (``RESULTS.conversions.json``, written by
``hepinfer.conversion_matrix(model, out=RESULTS)``), as a section of the HTML report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hepinfer.report.sidecar import escape, load_beside

FORMAT = "hepinfer-conversions/1"


def matrix_path(results: Path) -> Path:
    """Where the matrices of a results file are kept."""
    return results.with_name(results.name + ".conversions.json")


def load(results: Iterable[Path | str]) -> dict[str, dict[str, Any]]:
    """The matrices stored beside these results files, by model label (later files win)."""
    return load_beside(results, matrix_path, FORMAT, "run hepinfer.conversion_matrix(MODEL, out='{results}')")


_e = escape


def matrix_section(matrix: Mapping[str, Any]) -> str:
    """One model's matrix: each route, its tool, whether it works, its max |diff| or why not."""
    rows = []
    for row in matrix["routes"]:
        diff = f"{row['max_abs']:.3g}" if row.get("max_abs") is not None else "-"
        why = row.get("error") or row.get("reason") or ""
        cls = " class='flag'" if row["status"] == "failed" else ""
        rows.append(
            f"<tr><td>{_e(row['route'])}</td><td>{_e(row['tool'])}</td><td{cls}>{_e(row['status'])}</td>"
            f"<td>{_e(diff)}</td><td>{_e(why)}</td></tr>"
        )
    return (
        f"<h3>Conversions of {_e(matrix['model'])}</h3>"
        f"<p>Against its {_e(matrix['source'])} source on the same seeded inputs (batch "
        f"{_e(matrix['batch'])}, seed {_e(matrix['seed'])}): the largest absolute difference.</p>"
        "<table><tr><th>route</th><th>tool</th><th>status</th><th>max |diff|</th><th>why not</th></tr>"
        + "".join(rows)
        + "</table>"
    )
