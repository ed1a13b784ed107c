"""The worker's side of the parent-worker protocol, in the standard library only.

A measured process may run under another interpreter than the parent's (a backend whose
framework pins an old numpy has a venv of its own), so what every worker needs to talk to
its parent imports nothing but the standard library: the phase file the parent reads when the
worker dies, the atomic result file, and the guard that ends the worker with its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# Framework modules whose presence in a measured process is recorded: each one present is
# memory, threads and import time in the figures, so the record says which were there.
HEAVY_MODULES = (
    "torch",
    "tensorflow",
    "keras",
    "jax",
    "onnxruntime",
    "openvino",
    "tritonclient",
    "mxnet",
    "tensorrt",
    "onnx",
    "tf2onnx",
    "sofie",
    "hls4ml",
    "scipy",
    "pandas",
)
_PR_SET_PDEATHSIG = 1


class Phases:
    """Records the current phase to a file the parent reads if this process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = "start"

    def enter(self, name: str) -> None:
        """Start phase ``name`` (written before the work, so a crash inside it names it)."""
        self.name = name
        self.path.write_text(name)


def heavy_modules() -> list[str]:
    """The framework modules present in this process now (top-level names, sorted)."""
    return sorted(m for m in HEAVY_MODULES if m in sys.modules)


def die_with_parent(parent_pid: int | None) -> str:
    """End this process when its parent dies, so that an orphan never goes on measuring.

    On Linux the kernel sends SIGKILL when the parent exits (``PR_SET_PDEATHSIG``); a parent
    that died before that was set is caught by comparing ``getppid`` at once. Elsewhere a
    daemon thread polls the parent. Returns the method, for the record.
    """
    if parent_pid is None:
        return "none"
    method = "watchdog"
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                method = "pdeathsig"
    if os.getppid() != parent_pid:
        os._exit(3)  # the parent is already gone
    if method == "watchdog":

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(0.5)
            os._exit(3)

        threading.Thread(target=watch, name="hepinfer-parent-watchdog", daemon=True).start()
    return method


# What a worker runs on its job (the job file's dict and the phase recorder): the result's
# fields, "status" excepted.
JobHandler = Callable[[dict[str, Any], Phases], dict[str, Any]]


def serve(job_path: Path, handle: JobHandler) -> int:
    """Run ``handle(job, phases)`` and write its result (or the caught error) atomically.

    Returns 0 whenever a result was written; an exception of the handler becomes an error
    result naming its type, first line and the phase it happened in.
    """
    job = json.loads(job_path.read_text())
    job["parent_guard"] = die_with_parent(job.get("parent_pid"))
    phases = Phases(Path(job["result_path"]).with_suffix(".phase"))
    try:
        result: dict[str, Any] = {"status": "ok", **handle(job, phases)}
    except Exception as err:
        result = {"status": "error", "error": error_of(err, phases.name)}
    write_result(Path(job["result_path"]), result)
    return 0


def error_of(err: BaseException, phase: str) -> dict[str, Any]:
    """The record's error section for an exception raised in ``phase``."""
    from hepinfer.errors import HepinferError

    message = str(err) if isinstance(err, HepinferError) else f"{type(err).__name__}: {err}"
    first = message.strip().splitlines()[0] if message.strip() else type(err).__name__
    return {"type": type(err).__name__, "message": first, "phase": phase, "traceback": traceback.format_exc()}


def write_result(path: Path, result: Mapping[str, Any]) -> None:
    """Write the result file in one step (a reader sees all of it or nothing)."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(result, default=_json_default))
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars, without importing numpy
    if callable(item):
        return item()
    return str(value)
