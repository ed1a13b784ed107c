"""A model file's outputs on input sets of the parent's choosing, from a worker process: what
layerwise validation and the doctor's agreement check compare."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hepinfer.results.schema import Key
from hepinfer.runner.job import Job
from hepinfer.runner.launch import run_job
from hepinfer.runner.stage import stage_job
from hepinfer.runner.validate.inputs import event_axes
from hepinfer.zoo import ModelSpec, model_ref, spec_of


def run_outputs(
    path: Path,
    backend: str,
    sets: Mapping[str, Mapping[str, np.ndarray]],
    work: Path,
    tag: str,
    timeout_s: float,
    options: Mapping[str, str] | None = None,
    chunks: Mapping[str, int | None] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Each input set through ``path`` on ``backend`` in one worker process: outputs by set.

    ``chunks`` gives a set's events per call (a fixed-batch file runs a larger set in calls of
    its batch). A failed worker or set raises the one-line error with its phase.
    """
    from hepinfer.errors import ModelInputError

    ref = model_ref(str(path))
    spec = spec_of(ref)
    axes_in = event_axes(spec, spec.inputs)
    axes_out = event_axes(spec, spec.outputs)
    entries = []
    for name, inputs in sets.items():
        np.savez(work / f"{tag}.{name}.in.npz", **inputs)  # type: ignore[arg-type]
        entries.append(
            {
                "name": name,
                "inputs": str(work / f"{tag}.{name}.in.npz"),
                "outputs": str(work / f"{tag}.{name}.out.npz"),
                "chunk": (chunks or {}).get(name),
                "axes": axes_in,
                "out_axes": axes_out,
            }
        )
    first = next(iter(sets.values()))
    dims = _dims_of(spec, first)
    key = Key(
        model=ref.label,
        backend=backend,
        batch=spec.default_batch(),
        threads=1,
        options=dict(options or {}),
        dims=dims,
        seed=seed,
    )
    fields, _, failed = stage_job(ref, spec, key)
    job = Job(key=key, model_ref=ref, spec=spec, measure=False, input_files=tuple(entries)).staged(fields)
    result = failed or run_job(job.to_dict(), work, tag, timeout_s)
    if result["status"] != "ok":
        err = result["error"]
        raise ModelInputError(f"{backend} failed on {path.name} in {err.get('phase')}: {err['message']}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for done in result.get("input_files", []):
        if done["status"] != "ok":
            raise ModelInputError(
                f"{backend} failed on {path.name}, input set {done['name']}: {done['message']}"
            )
        with np.load(work / f"{tag}.{done['name']}.out.npz") as f:
            out[done["name"]] = {k: f[k] for k in f.files}
    return out


def _dims_of(spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """The dynamic-axis sizes these inputs have (the worker's own first call uses them)."""
    dims: dict[str, int] = {}
    for t in spec.inputs:
        for axis, d in enumerate(t.shape):
            if isinstance(d, str) and axis != t.batch_axis and t.name in inputs:
                dims[d] = int(inputs[t.name].shape[axis])
    return dims
