"""Documents kept beside a results file (``RESULTS.health.json``, ``RESULTS.conversions.json``):
JSON objects of one format each, by model label, that the HTML report renders with the records."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def load_beside(
    results: Iterable[Path | str], path_of: Callable[[Path], Path], format_: str, remake: str
) -> dict[str, dict[str, Any]]:
    """The documents of ``format_`` stored beside these results files, by model label (later
    files win); a document of another format is skipped, an unreadable file named in the error
    with ``remake`` (the command that writes it again, ``{results}`` filled in)."""
    from hepinfer.errors import ResultsError

    found: dict[str, dict[str, Any]] = {}
    for r in results:
        path = path_of(Path(r))
        if not path.exists():
            continue
        try:
            docs = json.loads(path.read_text())
        except ValueError as err:
            raise ResultsError(f"{path} is not JSON ({err}); {remake.format(results=r)} again") from err
        for label, doc in docs.items():
            if isinstance(doc, dict) and doc.get("format") == format_:
                found[label] = doc
    return found


def escape(value: Any) -> str:
    """Any value as HTML text (None as empty)."""
    return html.escape("" if value is None else str(value), quote=True)
