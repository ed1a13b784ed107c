"""What every runner does with a worker's result: copy its sections into the record (or the
error that stopped it), and hand each finished record on (returned list, JSONL file, callback)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepinfer.runner.stage import Staged


def take_result(record: dict[str, Any], result: dict[str, Any], sections: Iterable[str]) -> bool:
    """Copy ``sections`` of a successful worker result into ``record`` (a section the result
    lacks keeps the record's own); for a failed one, mark the record an error. Whether it succeeded."""
    if result["status"] != "ok":
        record["status"] = "error"
        record["error"] = result["error"]
        return False
    for name in sections:
        record[name] = result.get(name, record.get(name))
    return True


def add_minimum(record: dict[str, Any], staged: Staged | None) -> None:
    """Put the graph-level minimum the parent computed (``runner.stage``) beside the memory the
    worker measured, with their ratios (``memory.minimum``); nothing where there is none."""
    if staged is not None and staged.minimum is not None:
        from hepinfer.measure.min_memory import with_ratios

        record["memory"]["minimum"] = with_ratios(staged.minimum, record["memory"])


class RecordSink:
    """Where a run's records go, in order: the list it returns, ``out`` (JSONL, when given) and
    the caller's ``on_record``."""

    def __init__(self, out: Path | None, on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.out = out
        self.on_record = on_record
        self.records: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        """Append the finished record to the file, the list, and tell the caller."""
        if self.out is not None:
            from hepinfer.results import jsonl

            jsonl.append(self.out, record)
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)
