"""Progress of the long commands: a live bar on a terminal, one line per finished step elsewhere.

A bar redrawn in place means nothing in a log file or a CI job, and a silent command that runs
for minutes looks hung; so where stderr is not a terminal each finished configuration prints
one line (``[3/12] linear_event onnxruntime batch 16 threads 1: ok, 6.0 us per call``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Steps:
    """The progress of ``total`` steps (None: not known yet); ``start`` names the running one,
    ``finish`` counts it done with a short outcome."""

    def __init__(self, total: int | None, bar: Any = None, task: Any = None, done: int = 0) -> None:
        self.total, self.done, self._bar, self._task = total, done, bar, task
        self._name = ""
        self._t0 = time.monotonic()

    def start(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """The step now running (and, where the caller counts, how many are done of how many)."""
        self._name = name
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, description=name, completed=self.done, total=self.total)

    def finish(self, outcome: str = "done", name: str | None = None) -> None:
        """One step finished: the bar advances, or one line goes to stderr."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, total=self.total)
            return
        of = f"/{self.total}" if self.total is not None else ""
        elapsed = time.monotonic() - self._t0
        print(
            f"[{self.done}{of}] {name or self._name}: {outcome} ({elapsed:.0f} s)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def steps(total: int | None, what: str = "starting", done: int = 0, eta: bool = False) -> Iterator[Steps]:
    """Steps shown as a rich bar when stderr is a terminal, else as one line per finished step."""
    if not sys.stderr.isatty():
        yield Steps(total, done=done)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # MofNCompleteColumn shows "3/12", and only "3" while the total is not known (never "3/None").
    columns: list[ProgressColumn | str] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if eta:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total, completed=done)
        yield Steps(total, bar, task, done)


def outcome(record: dict[str, Any]) -> str:
    """A bench-like record's outcome in a few words: its median per call, or its error and phase."""
    if record.get("status") != "ok":
        error = record.get("error") or {}
        phase = f" in {error['phase']}" if error.get("phase") else ""
        return f"failed{phase}: {str(error.get('message', '?')).splitlines()[0][:120]}"
    median = (record.get("stats") or {}).get("median_ns")
    if median is None:
        return "ok"
    from hepinfer.report.cells import fmt_ns

    return f"ok, {fmt_ns(median)} per call"
