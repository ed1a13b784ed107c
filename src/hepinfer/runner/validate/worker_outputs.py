"""What a validation worker left on disk: its outputs per input set, or why a set has none."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepinfer.runner.validate.request import ValidateJob


def load_outputs(job: ValidateJob, work: Path, set_name: str) -> dict[str, np.ndarray] | str:
    """A job's outputs on a set, or why there are none.

    A worker that died (a crash, a timeout) still leaves the outputs of the sets it finished;
    the first set without outputs is where it died, the ones after it never ran.
    """
    for r in job.result.get("input_files", []):
        if r["name"] == set_name and r["status"] != "ok":
            return str(r["message"])
    path = job.outputs(work, set_name)
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    if job.result.get("status") == "ok":
        return "no outputs"
    died = died_on(job, work)
    why = worker_error(job)
    if died == set_name or died is None:
        return f"the worker failed on this set: {why}"
    return f"not run: the worker failed earlier, on {died}: {why}"


def worker_error(job: ValidateJob) -> str:
    """The failed worker's message, with the phase it failed in where the message lacks it."""
    err = job.result.get("error") or {}
    message, phase = str(err.get("message", "worker failed")), err.get("phase")
    return message if not phase or str(phase) in message else f"{message} (phase {phase})"


def died_on(job: ValidateJob, work: Path) -> str | None:
    """The first of a failed job's sets that left no outputs (None: every set did)."""
    return next((n for n in job.sets if not job.outputs(work, n).exists()), None)


def finished_some(job: ValidateJob, work: Path) -> bool:
    """Whether a failed job finished some of its sets before it died."""
    return any(job.outputs(work, n).exists() for n in job.sets)
