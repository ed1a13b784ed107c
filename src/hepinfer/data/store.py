"""Event files: parquet written by hepinfer (settings in the file's metadata), and the CMS ROOT
files of scikit-hep-testdata (their layouts and reader are ``data.real``'s). Both are read in
chunks of events; this module tells them apart and reads the parquet ones.

A file that is missing, truncated or of another kind raises DataError with one line saying
what is wrong and what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak

from hepinfer._optional import require
from hepinfer.data.real import read_root, root_tree
from hepinfer.errors import DataError

META_KEY = b"hepinfer"
FORMAT_VERSION = 1


def write(events: ak.Array, path: Path, metadata: Mapping[str, Any], row_group: int = 1000) -> Path:
    """Write events to parquet with ``metadata`` (JSON) in the file's schema; atomic."""
    pq = require("pyarrow.parquet", "parquet event files")

    table = ak.to_arrow_table(events, extensionarray=False)
    meta = {"format_version": FORMAT_VERSION, "n_events": len(events), **metadata}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, row_group_size=row_group, compression="zstd")
    os.replace(tmp, path)
    return path


def _kind(path: Path) -> str:
    if not path.exists():
        raise DataError(f"event file {path} does not exist: make one with 'hepinfer data generate'")
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, path.stat().st_size - 4))
        tail = f.read(4)
    if head == b"PAR1":
        if tail != b"PAR1":
            raise DataError(f"{path} is a truncated parquet file (no footer): regenerate or copy it again")
        return "parquet"
    if head == b"root":
        return "root"
    raise DataError(
        f"{path} is neither parquet nor ROOT (starts with {head!r}): give an event file "
        "written by 'hepinfer data generate' or a scikit-hep-testdata CMS ROOT file"
    )


def metadata(path: Path) -> dict[str, Any]:
    """The file's hepinfer metadata (parquet), or what uproot says about a ROOT file."""
    path = Path(path)
    if _kind(path) == "root":
        tree, conv = root_tree(path)
        return {
            "source": f"ROOT tree 'events' ({conv})",
            "n_events": int(tree.num_entries),
            "file": path.name,
        }
    pq = require("pyarrow.parquet", "parquet event files")

    try:
        schema = pq.read_schema(path)
        n = pq.ParquetFile(path).metadata.num_rows
    except Exception as err:
        raise DataError(f"{path} cannot be read as parquet ({_first(err)}): regenerate it") from err
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise DataError(
            f"{path} is parquet but not written by hepinfer (no '{META_KEY.decode()}' "
            "metadata): make it with 'hepinfer data generate'"
        )
    meta: dict[str, Any] = json.loads(raw)
    meta["n_events"] = int(n)
    return meta


def iter_events(
    path: Path,
    chunk: int = 1000,
    entry_stop: int | None = None,
    fields: Sequence[str] | None = None,
) -> Iterator[ak.Array]:
    """Event records in chunks of ``chunk`` events (the last one shorter).

    ``fields``: read only these top-level fields of a parquet file (column projection); a
    ROOT file is always read whole.
    """
    path = Path(path)
    if chunk < 1:
        raise DataError(f"chunk size {chunk}: must be at least 1 event")
    if _kind(path) == "root":
        yield from read_root(path, chunk, entry_stop)
        return
    metadata(path)  # checks that it is ours
    pq = require("pyarrow.parquet", "parquet event files")

    seen = 0
    try:
        columns = list(fields) if fields is not None else None
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk, columns=columns):
            events = ak.from_arrow(batch)
            if entry_stop is not None and seen + len(events) >= entry_stop:
                yield events[: entry_stop - seen]
                return
            seen += len(events)
            yield events
    except DataError:
        raise
    except Exception as err:
        raise DataError(
            f"{path}: reading events failed after {seen} ({_first(err)}); the file is damaged: regenerate it"
        ) from err


def read(path: Path, entry_stop: int | None = None) -> ak.Array:
    """All (or the first ``entry_stop``) events of a file."""
    chunks = list(iter_events(path, chunk=100_000, entry_stop=entry_stop))
    if not chunks:
        raise DataError(f"{path} holds no events")
    return ak.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
