"""The precision scan of ``hepinfer validate --precision-scan``: how much do a model's answers
change when every weight and activation is an ``ap_fixed<W,I>``, and which width suffices?

For each total width W (8..18 bits by default) the fixed-point backend (hls4ml) is built with
``ap_fixed<W,I>`` and run on the realistic events and on a signal and a background sample; its
outputs are compared with the float reference's (the validate reference, PyTorch for zoo
models). The integer bits I are given, or chosen from the observed ranges: enough for the
largest magnitude among the inputs and the reference outputs, plus the sign
(``floor(log2(max|x|)) + 2``); activations inside the model are not profiled, so a hidden layer
wider than both can still overflow. Per width:

- ``max_abs`` and ``fraction_within`` (the scan's tolerance, looser than fp32's) on the
  realistic events;
- the physics impact: for an anomaly-detection score, the ROC AUC signal vs background and the
  fraction of events whose selection flips at the reference's cut at a fixed background rate
  (``hepinfer.measure.physics.parity``); for a classifier, the fraction of events whose argmax
  flips;
- ``impact``: the figure compared with the threshold: the selection flips divided by the
  number of events the float model selects (an AD trigger), or the argmax flips (a classifier).

The recommendation is the smallest width from which on every larger scanned width stays at
or below the threshold too. Each width is a conversion and a g++ compile (cached), run in a
worker that only opens the library.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.measure import physics
from hepinfer.measure.agreement import Tolerance, compare
from hepinfer.results.schema import Key
from hepinfer.runner.job import Job
from hepinfer.runner.launch import run_job
from hepinfer.runner.stage import stage_job
from hepinfer.runner.validate.inputs import event_axes, input_sets
from hepinfer.runner.validate.request import InputSet, ValidateRequest
from hepinfer.zoo import ModelRef, ModelSpec

DEFAULT_WIDTHS = tuple(range(8, 19))


@dataclass(frozen=True)
class PrecisionScan:
    """What the scan varies and how it judges: widths, integer bits, tolerance, threshold."""

    widths: Sequence[int] = DEFAULT_WIDTHS
    # Integer bits of every type; None: from the observed ranges.
    integer: int | None = None
    backend: str = "hls4ml"
    # Other options of the fixed-point backend (rounding, saturation, reuse_factor...).
    options: Mapping[str, str] = field(default_factory=dict)
    rtol: float = 1e-2
    atol: float = 1e-2
    # The largest physics impact (flip fraction) a width may have to be recommended.
    threshold: float = 0.01
    background_efficiency: float = 0.01

    def check(self) -> None:
        """Refuse impossible scans before any worker starts."""
        if not self.widths or any(w < 2 or w > 64 for w in self.widths):
            raise ConfigurationError(
                f"--precision-scan {','.join(map(str, self.widths))}: widths must be 2..64 bits"
            )
        if not 0 < self.threshold < 1:
            raise ConfigurationError(f"--scan-threshold {self.threshold}: use a fraction in (0, 1)")
        if "width" in self.options or "integer" in self.options:
            raise ConfigurationError("the scan sets hls4ml.width and hls4ml.integer itself; drop them")


def integer_bits(arrays: Sequence[np.ndarray]) -> int:
    """Integer bits (sign included) of a signed fixed-point type holding every value given."""
    top = max((float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0)) for a in arrays), default=0.0)
    if top <= 0.0:
        return 1
    return max(1, math.floor(math.log2(top)) + 2)


Progress = Callable[[int, int, str], None]


def run_scan(
    request: ValidateRequest,
    scan: PrecisionScan,
    ref: ModelRef,
    spec: ModelSpec,
    dims: Mapping[str, int],
    reference: str,
    work: Path,
    on_start: Progress | None = None,
) -> dict[str, Any]:
    """The scan's report section (JSON-serialisable); workers in ``work``."""
    scan.check()
    wanted = ("realistic", "background", "signal")
    sub = dataclasses.replace(request, checks=("agreement", "physics"))
    sets = {s.name: s for s in input_sets(sub, ref, spec, dims) if s.name in wanted}
    runner = _ScanRunner(request, ref, spec, dims, work, sets, _save_sets(sets, work))
    steps = len(scan.widths) + 1
    if on_start is not None:
        on_start(0, steps, f"scan reference {reference}")
    ref_out = _outputs(runner.run("reference", reference, {}), sets)
    if isinstance(ref_out, str):
        return {"error": f"the reference failed: {ref_out}"}
    chosen = scan.integer if scan.integer is not None else _observed_integer_bits(sets, ref_out)
    classifier = spec.classifier
    argmax = [
        t.name for t in spec.outputs if classifier and isinstance(t.shape[-1], int) and t.shape[-1] >= 2
    ]
    tol = Tolerance(scan.rtol, scan.atol)
    rows = []
    for i, width in enumerate(scan.widths):
        integer = min(chosen, width)
        if on_start is not None:
            on_start(i + 1, steps, f"scan {scan.backend} ap_fixed<{width},{integer}>")
        rows.append(_width_row(runner, scan, width, integer, ref_out, tol, argmax))
    return {
        "backend": scan.backend,
        "reference": reference,
        "options": dict(scan.options),
        "integer_bits": chosen,
        "integer_from": "given"
        if scan.integer is not None
        else "observed ranges (inputs, reference outputs)",
        "tolerance": tol.to_dict(),
        "threshold": scan.threshold,
        "impact": "argmax flips" if argmax else "selection flips / events the float model selects",
        "background_efficiency": scan.background_efficiency,
        "widths": rows,
        "recommended": recommend(rows, scan.threshold),
        "timing_kind": "C simulation (emulator CPU time)",
    }


def _save_sets(sets: Mapping[str, InputSet], work: Path) -> dict[str, Path]:
    """Each input set saved once as .npz, for every worker of the scan to read."""
    paths = {}
    for name, s in sets.items():
        paths[name] = work / f"scan-inputs.{name}.npz"
        np.savez(paths[name], **s.inputs)  # type: ignore[arg-type]
    return paths


def _observed_integer_bits(
    sets: Mapping[str, InputSet], ref_out: Mapping[str, Mapping[str, np.ndarray]]
) -> int:
    """Integer bits for the largest magnitude among the float inputs and the reference outputs."""
    arrays = [v for s in sets.values() for v in s.inputs.values() if v.dtype.kind == "f"]
    arrays += [v for outs in ref_out.values() for v in outs.values()]
    return integer_bits(arrays)


@dataclass(frozen=True)
class _ScanRunner:
    """Runs one backend configuration of the scan on the saved input sets, in a worker."""

    request: ValidateRequest
    ref: ModelRef
    spec: ModelSpec
    dims: Mapping[str, int]
    work: Path
    sets: Mapping[str, InputSet]
    paths: Mapping[str, Path]

    def run(self, tag: str, backend: str, options: Mapping[str, str]) -> dict[str, Any]:
        """The worker's result, and where it wrote its outputs per set."""
        ref, spec, request, work, sets = self.ref, self.spec, self.request, self.work, self.sets
        axes_in, axes_out = event_axes(spec, spec.inputs), event_axes(spec, spec.outputs)
        key = Key(
            model=ref.label, backend=backend, batch=spec.default_batch(), threads=1,
            options=dict(options), dims=dict(self.dims), model_params=dict(ref.params),
            exporter=request.exporter, seed=request.seed,
        )  # fmt: skip
        fields, _, failed = stage_job(ref, spec, key)
        entries = [
            {
                "name": n, "inputs": str(self.paths[n]), "outputs": str(work / f"scan-{tag}.{n}.npz"),
                "chunk": sets[n].chunk, "axes": axes_in, "out_axes": axes_out,
            }
            for n in sets
        ]  # fmt: skip
        job = Job(key=key, model_ref=ref, spec=spec, measure=False, input_files=tuple(entries))
        result = failed or run_job(job.staged(fields).to_dict(), work, f"scan-{tag}", request.timeout_s)
        return {"result": result, "outputs": {n: work / f"scan-{tag}.{n}.npz" for n in sets}}


def _width_row(
    runner: _ScanRunner,
    scan: PrecisionScan,
    width: int,
    integer: int,
    ref_out: Mapping[str, Mapping[str, np.ndarray]],
    tol: Tolerance,
    argmax: list[str],
) -> dict[str, Any]:
    """The scan's row for ``ap_fixed<width,integer>``: its build, and how far it is from the float."""
    options = {**scan.options, "width": str(width), "integer": str(integer)}
    got_run = runner.run(f"w{width}", scan.backend, options)
    got = _outputs(got_run, runner.sets)
    row: dict[str, Any] = {"width": width, "integer": integer, "type": f"ap_fixed<{width},{integer}>"}
    if isinstance(got, str):
        row["error"] = got
        return row
    settings = got_run["result"].get("backend", {}).get("settings", {})
    row["compile_s"] = settings.get("compile_s")
    row["cached"] = settings.get("cached")
    axes_out = event_axes(runner.spec, runner.spec.outputs)
    row.update(_judge(runner.spec, runner.sets, ref_out, got, tol, argmax, axes_out, scan))
    return row


def _outputs(run: Mapping[str, Any], sets: Mapping[str, InputSet]) -> dict[str, dict[str, np.ndarray]] | str:
    result = run["result"]
    if result.get("status") != "ok":
        err = result.get("error", {})
        return f"{err.get('message', 'worker failed')} (phase {err.get('phase')})"
    out = {}
    for r in result.get("input_files", []):
        if r["status"] != "ok":
            return str(r["message"])
    for n in sets:
        with np.load(run["outputs"][n]) as f:
            out[n] = {k: f[k] for k in f.files}
    return out


def _judge(
    spec: ModelSpec,
    sets: Mapping[str, InputSet],
    ref: Mapping[str, Mapping[str, np.ndarray]],
    got: Mapping[str, Mapping[str, np.ndarray]],
    tol: Tolerance,
    argmax: list[str],
    axes: Mapping[str, int | None],
    scan: PrecisionScan,
) -> dict[str, Any]:
    summary = compare(ref["realistic"], got["realistic"], tol=tol, argmax=argmax, batch_axes=axes)
    outs = summary["outputs"].values()
    row: dict[str, Any] = {
        "max_abs": max(float(o.get("max_abs", math.inf)) for o in outs),
        "fraction_within": min(float(o.get("fraction_within", 0.0)) for o in outs),
        "nonfinite": sum(int(o.get("nan", 0)) + int(o.get("inf", 0)) for o in outs),
    }
    if argmax:
        flips = [
            compare(ref[n], got[n], tol=tol, argmax=argmax, batch_axes=axes)["outputs"][a].get(
                "argmax_flips", 1.0
            )
            for n in ("background", "signal")
            for a in argmax
        ]
        row["argmax_flips"] = max(float(f) for f in flips)
        row["impact"] = row["argmax_flips"]
        return row
    score = {
        (n, side): physics.scores(spec, sets[n].inputs, outs_of[n])
        for n in ("background", "signal")
        for side, outs_of in (("ref", ref), ("got", got))
    }
    parity = physics.parity(
        score[("signal", "ref")], score[("background", "ref")],
        score[("signal", "got")], score[("background", "got")],
        scan.background_efficiency,
    )  # fmt: skip
    row.update(
        auc=parity["auc"],
        auc_reference=parity["auc_reference"],
        auc_difference=parity["auc_difference"],
        selection_flip_fraction=parity["selection_flip_fraction"],
        signal_efficiency=parity["signal_efficiency"],
        signal_efficiency_reference=parity["signal_efficiency_reference"],
    )
    # Relative to what the float model selects: at a 1% background rate few events pass, so
    # a fraction of all events would hide a selection that changed completely.
    selected = parity["signal_efficiency_reference"] * score[("signal", "ref")].size + (
        scan.background_efficiency * score[("background", "ref")].size
    )
    row["selection_flips"] = parity["selection_flips"]
    row["impact"] = parity["selection_flips"] / max(selected, 1.0)
    return row


def recommend(rows: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any] | None:
    """The smallest width whose impact, and that of every larger width scanned, is <= threshold."""
    ordered = sorted(rows, key=lambda r: r["width"])
    best = None
    for row in reversed(ordered):
        impact = row.get("impact")
        if impact is None or impact > threshold or row.get("nonfinite"):
            break
        best = row
    if best is None:
        return None
    return {
        "width": best["width"],
        "integer": best["integer"],
        "type": best["type"],
        "impact": best["impact"],
    }
