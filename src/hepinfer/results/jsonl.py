"""Append-only JSON Lines: each record written whole with one write and flushed to disk."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hepinfer.errors import ResultsError
from hepinfer.results.schema import migrate


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one record as one line. A crash leaves earlier records intact.

    The line goes out in a single write on an O_APPEND descriptor and is fsynced, so a
    reader sees either the whole record or none of it. A complete record (one with a
    ``kind``) is checked against the typed schema first, so no writer can store a record
    that readers would refuse.
    """
    if "kind" in record:
        from hepinfer.results.record import Record

        Record.from_dict(record, "the record to write")
    line = (json.dumps(record, separators=(",", ":"), allow_nan=True) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise ResultsError(f"cannot write results to {path}: {err.strerror}; choose another --out") from err
    try:
        # Guard against a previous writer killed mid-line: start on a fresh line.
        if os.fstat(fd).st_size and not _ends_with_newline(path):
            line = b"\n" + line
        written = os.write(fd, line)
        while written < len(line):
            written += os.write(fd, line[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record, migrated to the current schema.

    A line that is not JSON can only be the torn write of a killed writer (appends never
    tear otherwise), so it is skipped; a file in which no line is a record is refused.
    """
    if not path.exists():
        raise ResultsError(f"no results file {path}")
    good = bad = 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(record, dict):
                raise ResultsError(
                    f"{path}:{number} is not a result record; is this a hepinfer results file?"
                )
            good += 1
            yield migrate(record, f"{path}:{number}")
    if bad and not good:
        raise ResultsError(f"{path} holds no JSON records; is this a hepinfer results file?")
