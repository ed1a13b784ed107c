"""One original or twin in a worker process, on given inputs, one event per call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class
from hepinfer.results.schema import Key
from hepinfer.runner.job import Job
from hepinfer.runner.launch import run_job
from hepinfer.runner.stage import interpreter_for, stage_job
from hepinfer.zoo import model_ref, spec_of


def worker_outputs(
    model: str,
    backend: str,
    inputs: Mapping[str, np.ndarray],
    work: Path,
    name: str,
    *,
    like: str | None = None,
    shapes: Mapping[str, str] | None = None,
    exporter: str = "twin",
    options: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
) -> tuple[dict[str, np.ndarray], str, dict[str, Any]]:
    """Run ``inputs`` through ``backend`` in a worker (its venv, as bench does), one event per
    call; returns the outputs, the worker's log and its result."""
    ref = model_ref(model, None, dict(shapes) if shapes else None, like)
    spec = spec_of(ref)
    opts = backend_class(backend).Options.from_strings(backend, dict(options or {})).variant()
    key = Key(model=ref.label, backend=backend, batch=1, threads=1, options=opts, exporter=exporter)
    fields, _, failed = stage_job(ref, spec, key)
    if failed is not None:
        raise RuntimeError(f"{name}: staging failed: {failed['error']['message']}")
    source = work / f"{name}.inputs.npz"
    np.savez(source, **inputs)  # type: ignore[arg-type]
    out = work / f"{name}.outputs.npz"
    entry = {
        "name": "realistic",
        "inputs": str(source),
        "outputs": str(out),
        "chunk": 1,
        "axes": {t.name: 0 for t in spec.inputs},
        "out_axes": {t.name: 0 for t in spec.outputs},
    }
    job = Job(key=key, model_ref=ref, spec=spec, measure=False, input_files=(entry,)).staged(fields)
    python = interpreter_for(key, ref, spec, fields)
    result = run_job(job.to_dict(), work, name, timeout_s, env=dict(env) if env else None, python=python)
    log = (work / f"{name}.log").read_text(errors="replace") if (work / f"{name}.log").exists() else ""
    if result.get("status") != "ok" or not out.exists():
        message = (result.get("error") or {}).get("message", "no outputs")
        raise RuntimeError(f"{name}: the worker failed: {message}")
    with np.load(out) as f:
        return {k: f[k] for k in f.files}, log, result


def config_label(backend: str, options: Mapping[str, str]) -> str:
    """A configuration as the tables name it: ``backend[key=value]...``."""
    return backend + "".join(f"[{k}={v}]" for k, v in options.items())
