"""A validation run: every backend's outputs against the reference's, on inputs that find bugs,
plus reproducibility checks and physics-level parity.

The parent builds every input set once (seeded) and saves it to .npz; each backend runs in
worker processes (``launch.run_job`` with ``measure=False`` jobs) that push the sets through
one loaded model (``run_input_files``, called by the worker) and save the outputs per set. The
parent then compares:

- agreement with the reference on each set: realistic events, padded events (few real
  particles, zeros in the padding), single-particle events, batch 1 and an odd batch;
- reproducibility, each a yes/no with the worst difference: the same input twice in one
  process (bitwise), a second process, other thread counts, batch invariance (an event alone
  vs inside batches of 16 and 256), the other torch exporter, and capped instruction sets
  where the backend has a switch;
- physics parity on a seeded signal and background sample (``hepinfer.measure.physics``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.errors import ConfigurationError
from hepinfer.measure import physics
from hepinfer.measure.agreement import VERDICTS, Tolerance, compare, tolerance
from hepinfer.measure.timer import TimingPolicy
from hepinfer.results.schema import Key
from hepinfer.runner.launch import run_job
from hepinfer.zoo import ModelRef, ModelSpec, TensorSpec, build_inputs, model_ref, spec_of

CHECKS = ("agreement", "repeat", "rerun", "threads", "batch", "exporter", "isa", "physics")

ORT_ISA_NOTE = (
    "ONNX Runtime upstream has no switch to cap its instruction set (MLAS picks kernels by "
    "CPUID; CMS patches one in as MLAS_DYNAMIC_CPU_ARCH), so results may differ between CPU "
    "types; shown instead: run-to-run and thread-count determinism"
)


@dataclass(frozen=True)
class ValidateRequest:
    """What to validate and how hard to look."""

    model: str
    backends: Sequence[str] = ("onnxruntime",)
    reference: str | None = None
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    # backend -> option -> value (one configuration per backend).
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    precision: str = "fp32"
    rtol: float | None = None
    atol: float | None = None
    checks: Sequence[str] = CHECKS
    # Thread counts compared with 1 thread.
    threads: Sequence[int] = (4,)
    # An event alone vs inside batches of these sizes (the largest is the realistic sample).
    batch_sizes: Sequence[int] = (16, 256)
    odd_batch: int = 7
    # Events alone: these indices of the realistic sample.
    alone: Sequence[int] = (0, 1, 7, 15)
    padded_events: int = 16
    physics_events: int = 10_000
    physics_chunk: int = 1000
    background_efficiency: float = 0.01
    # Classifier outputs whose argmax flips are counted (None: every class-vector output of a
    # model whose spec says it is a classifier).
    argmax: Sequence[str] | None = None
    timeout_s: float = 900.0


@dataclass
class _Set:
    name: str
    inputs: dict[str, np.ndarray]
    chunk: int | None = None  # run in calls of this many events (fixed-batch models, big sets)


@dataclass
class _Job:
    name: str
    backend: str
    threads: int
    exporter: str
    sets: list[str]
    env: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    def outputs(self, workdir: Path, set_name: str) -> Path:
        return workdir / f"{self.name}.{set_name}.npz"


# --- in the worker -----------------------------------------------------------------------------


def run_input_files(backend: Any, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Worker side: each input set through the loaded backend, outputs saved per set.

    An entry names its ``inputs`` and ``outputs`` .npz, and optionally ``chunk`` (events per
    call) with the batch axis of each input (``axes``) and output (``out_axes``). A failure on
    one set is recorded and the next set still runs.
    """
    results = []
    for e in entries:
        try:
            with np.load(e["inputs"]) as f:
                inputs = {k: f[k] for k in f.files}
            outputs = _run_chunks(
                backend, inputs, e.get("chunk"), e.get("axes", {}), e.get("out_axes", {})
            )
            np.savez(e["outputs"], **outputs)  # type: ignore[arg-type]
            results.append({"name": e["name"], "status": "ok"})
        except Exception as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            results.append(
                {"name": e["name"], "status": "error", "message": f"{type(err).__name__}: {first}"}
            )
    return results


def _run_chunks(
    backend: Any,
    inputs: dict[str, np.ndarray],
    chunk: int | None,
    axes: Mapping[str, int | None],
    out_axes: Mapping[str, int | None],
) -> dict[str, np.ndarray]:
    n = _events(inputs, axes)
    step = chunk or n or 1
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, max(n, 1), step):
        part = {k: _take(v, axes.get(k, 0), start, start + step) for k, v in inputs.items()}
        prepared = backend.prepare(part)
        raw = backend.run(prepared)
        backend.synchronize()
        parts.append(backend.fetch(prepared, raw))
    if len(parts) == 1:
        return parts[0]
    return {
        k: np.concatenate([p[k] for p in parts], axis=out_axes.get(k, 0) or 0) for k in parts[0]
    }


def _events(inputs: Mapping[str, np.ndarray], axes: Mapping[str, int | None]) -> int:
    for k, v in inputs.items():
        axis = axes.get(k, 0)
        if axis is not None:
            return int(v.shape[axis])
    return 1


def _take(x: np.ndarray, axis: int | None, start: int, stop: int) -> np.ndarray:
    if axis is None:
        return x
    return np.ascontiguousarray(np.take(x, np.arange(start, min(stop, x.shape[axis])), axis=axis))


# --- input sets ----------------------------------------------------------------------------------


def event_axis(spec: ModelSpec, t: TensorSpec) -> int | None:
    """The axis indexing events: the batch axis, or axis 0 of a model whose file fixes the
    batch size (rootbench's B1 files: [1, 100] is one event); None for a rank-1 tensor."""
    if t.batch_axis is not None:
        return t.batch_axis
    if spec.fixed_batch is not None and len(t.shape) >= 2:
        return 0
    return None


def event_axes(spec: ModelSpec, tensors: Sequence[TensorSpec]) -> dict[str, int | None]:
    """event_axis of each tensor, by name."""
    return {t.name: event_axis(spec, t) for t in tensors}


def padded_axis(spec: ModelSpec, name: str) -> int | None:
    """The particle axis of an input: where padding lives.

    A mask's padded axis is its last non-unit one; a features input that shares that symbol
    is padded along it. Without a mask, a features input of rank >= 3 is padded along its
    longest non-batch axis (event_vae's object rows, DeepJet's 25 candidates); rank 2 inputs
    are global features and are not padded.
    """
    t = next(t for t in spec.inputs if t.name == name)
    masks = [m for m in spec.inputs if m.role == "mask"]
    if t.role == "mask":
        for axis in range(len(t.shape) - 1, 0, -1):
            if t.shape[axis] != 1:
                return axis
        return None
    if t.role != "features":
        return None
    symbols = set()
    for m in masks:
        m_axis = padded_axis(spec, m.name)
        if m_axis is not None and isinstance(m.shape[m_axis], str):
            symbols.add(m.shape[m_axis])
    ev = event_axis(spec, t)
    for axis, d in enumerate(t.shape):
        if d in symbols and axis != ev:
            return axis
    if masks or len(t.shape) < 3:
        return None
    sizes = [(d if isinstance(d, int) else 0, axis) for axis, d in enumerate(t.shape) if axis != ev]
    # The longest axis, the first one on a tie; symbols without a size lose to fixed sizes.
    best = max(sizes, key=lambda s: (s[0], -s[1]))
    return best[1] if best[0] > 1 else None


def pad_events(
    spec: ModelSpec, inputs: Mapping[str, np.ndarray], keep: np.ndarray
) -> dict[str, np.ndarray]:
    """Keep only the first ``keep[i]`` particles of event i: masks 0 and features 0 beyond."""
    out = {}
    for t in spec.inputs:
        x = np.array(inputs[t.name], copy=True)
        axis = padded_axis(spec, t.name)
        if axis is not None and event_axis(spec, t) == 0:
            idx = np.arange(x.shape[axis])
            pad = idx[None, :] >= keep[:, None]  # [batch, particles]
            view = np.moveaxis(x, axis, 1)
            view[pad] = 0
        out[t.name] = x
    return out


def _slice(
    spec: ModelSpec, inputs: Mapping[str, np.ndarray], start: int, stop: int
) -> dict[str, np.ndarray]:
    axes = event_axes(spec, spec.inputs)
    return {k: _take(v, axes[k], start, stop) for k, v in inputs.items()}


def input_sets(
    request: ValidateRequest, ref: ModelRef, spec: ModelSpec, dims: Mapping[str, int]
) -> list[_Set]:
    """Every input set the request's checks need, seeded."""
    checks = set(request.checks)
    sets: list[_Set] = []
    fixed = spec.fixed_batch
    if fixed is not None or not spec.has_batch_axis:
        b = fixed or 1
        realistic = build_inputs(ref, spec, b, dims, request.seed)
        sets.append(_Set("realistic", realistic))
        few = build_inputs(ref, spec, b, dims, request.seed + 1)
        sets.append(_Set("padded", pad_events(spec, few, np.arange(b) % 3 + 1)))
        sets.append(_Set("single", pad_events(spec, few, np.ones(b, np.int64))))
    else:
        big = max(request.batch_sizes) if request.batch_sizes else 64
        realistic = build_inputs(ref, spec, big, dims, request.seed)
        sets.append(_Set("realistic", realistic))
        few = build_inputs(ref, spec, request.padded_events, dims, request.seed + 1)
        n = request.padded_events
        sets.append(_Set("padded", pad_events(spec, few, np.arange(n) % 3 + 1)))
        sets.append(_Set("single", pad_events(spec, few, np.ones(n, np.int64))))
        sets.append(_Set("batch1", _slice(spec, realistic, 0, 1)))
        sets.append(
            _Set(f"batch{request.odd_batch}", _slice(spec, realistic, 0, request.odd_batch))
        )
        if "batch" in checks:
            for b in request.batch_sizes:
                if b != big:
                    sets.append(_Set(f"batch{b}", _slice(spec, realistic, 0, b)))
            for i in request.alone:
                if i < big:
                    sets.append(_Set(f"alone{i}", _slice(spec, realistic, i, i + 1)))
    if "physics" in checks and all(v is not None for v in event_axes(spec, spec.inputs).values()):
        half = max(1, request.physics_events // 2)
        chunk = fixed or min(request.physics_chunk, half)
        background = (
            build_inputs(ref, spec, half, dims, request.seed + 2)
            if fixed is None
            else _stack(
                [
                    build_inputs(ref, spec, fixed, dims, request.seed + 2 + i)
                    for i in range(half // fixed)
                ]
            )
        )
        sets.append(_Set("background", background, chunk))
        sets.append(_Set("signal", physics.signal_like(spec, background), chunk))
    return sets


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --- planning and running ------------------------------------------------------------------------


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_caps(backend_name: str) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """(label, env) for each capped run a backend allows below this CPU's level, and a note."""
    if backend_name == "pytorch":
        flags = _cpu_flags()
        caps: list[tuple[str, dict[str, str]]] = [
            ("ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"})
        ]
        if "avx512f" in flags and "avx2" in flags:
            caps.append(("ATEN_CPU_CAPABILITY=avx2", {"ATEN_CPU_CAPABILITY": "avx2"}))
        caps.append(("ONEDNN_MAX_CPU_ISA=SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}))
        if "avx512f" in flags and "avx2" in flags:
            caps.append(("ONEDNN_MAX_CPU_ISA=AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}))
        return (
            caps,
            "PyTorch kernels capped with ATEN_CPU_CAPABILITY, oneDNN with ONEDNN_MAX_CPU_ISA",
        )
    if backend_name == "onnxruntime":
        return [], ORT_ISA_NOTE
    return [], f"hepinfer knows no instruction-set cap for {backend_name}"


def _consumes_onnx(backend: str, ref: ModelRef) -> bool:
    cls = backend_class(backend)
    return "onnx" in cls.formats and not ("torch" in cls.formats and ref.kind == "zoo")


Config = tuple[str, dict[str, str]]


def label(backend: str, options: Mapping[str, str]) -> str:
    """Backend with its options, as tables show it: ``onnxruntime[optimization=disable]``."""
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{backend}[{opts}]" if opts else backend


def configs(request: ValidateRequest, reference: str) -> list[Config]:
    """The reference at default settings first, then each backend with its options.

    A backend named like the reference is validated as a separate configuration only when
    it has options (ONNX Runtime without graph optimisations against ONNX Runtime's default).
    """
    out: list[Config] = [(reference, {})]
    for b in request.backends:
        opts = dict(request.options.get(b, {}))
        if b != reference or opts:
            out.append((check_name(b), opts))
    return out


def plan_jobs(
    request: ValidateRequest, ref: ModelRef, reference: str, backends: list[str], sets: list[_Set]
) -> list[_Job]:
    """The worker jobs: each backend's main job (every set), then its reproducibility jobs.

    ``backends`` is the list of backends besides the reference (options from the request).
    """
    return _plan(
        request,
        ref,
        [(reference, {})] + [(b, dict(request.options.get(b, {}))) for b in backends],
        sets,
    )


def _plan(
    request: ValidateRequest, ref: ModelRef, configs: list[Config], sets: list[_Set]
) -> list[_Job]:
    checks = set(request.checks)
    names = [s.name for s in sets]
    agree_sets: list[str] = [n for n in ("realistic", "padded") if n in names]
    jobs: list[_Job] = []
    for i, (b, opts) in enumerate(configs):
        tag = f"b{i}"
        main = list(names)
        if "repeat" in checks:
            # The same input twice in a row through one loaded model: must be bitwise equal.
            main.insert(main.index("realistic") + 1, "realistic_again")
        jobs.append(_Job(f"{tag}-main", b, 1, request.exporter, main, options=opts))
        if "rerun" in checks:
            jobs.append(_Job(f"{tag}-rerun", b, 1, request.exporter, ["realistic"], options=opts))
        if "threads" in checks:
            for t in request.threads:
                if t != 1:
                    jobs.append(
                        _Job(f"{tag}-threads{t}", b, t, request.exporter, agree_sets, options=opts)
                    )
        if "exporter" in checks and ref.kind == "zoo" and _consumes_onnx(b, ref):
            other = "legacy" if request.exporter == "dynamo" else "dynamo"
            jobs.append(_Job(f"{tag}-exporter-{other}", b, 1, other, agree_sets, options=opts))
        if "isa" in checks:
            caps, _ = isa_caps(backend_class(b).name)
            for j, (_label, env) in enumerate(caps):
                jobs.append(
                    _Job(
                        f"{tag}-isa{j}",
                        b,
                        1,
                        request.exporter,
                        ["realistic"],
                        env=env,
                        options=opts,
                    )
                )
    return jobs


Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Checked:
    """A request checked without starting a worker: the model, its spec and what runs."""

    ref: ModelRef
    spec: ModelSpec
    dims: dict[str, int]
    reference: str
    configs: list[Config]
    tol: Tolerance


def check(request: ValidateRequest) -> Checked:
    """Everything that can be checked before any worker starts; raises one clear error."""
    unknown = sorted(set(request.checks) - set(CHECKS))
    if unknown:
        raise ConfigurationError(f"--checks {unknown[0]}: choose from {', '.join(CHECKS)}")
    tol = tolerance(request.precision, request.rtol, request.atol)
    ref = model_ref(request.model, request.params)
    spec = spec_of(ref)
    dims = spec.resolve_dims(request.dims)
    reference = check_name(request.reference or ("pytorch" if ref.kind == "zoo" else "onnxruntime"))
    if not request.backends:
        raise ConfigurationError("no backend given: use --backend onnxruntime")
    confs = configs(request, reference)
    for b in request.options:
        if b not in request.backends:
            raise ConfigurationError(f"--option {b}.…: backend {b} is not among --backend")
    for b, opts in confs:
        backend_class(b).Options.from_strings(b, opts)  # fail before any worker
    argmax_outputs(request, spec)  # a bad --argmax fails before any worker starts
    for t in request.threads:
        if t < 1:
            raise ConfigurationError(
                f"--threads {t}: thread counts compared with 1 must be 1 or more"
            )
    return Checked(ref, spec, dims, reference, confs, tol)


def run(
    request: ValidateRequest,
    on_start: Progress | None = None,
    keep_workdir: bool = False,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Validate every backend of the request; returns the report (JSON-serialisable)."""
    checked = check(request)
    ref, spec, dims, reference, confs, tol = (
        checked.ref,
        checked.spec,
        checked.dims,
        checked.reference,
        checked.configs,
        checked.tol,
    )
    sets = input_sets(request, ref, spec, dims)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="hepinfer-validate-")) if workdir is None else workdir
    try:
        paths = {}
        for s in sets:
            paths[s.name] = work / f"inputs.{s.name}.npz"
            np.savez(paths[s.name], **s.inputs)  # type: ignore[arg-type]
        jobs = _plan(request, ref, confs, sets)
        by_name = {s.name: s for s in sets}
        in_axes = event_axes(spec, spec.inputs)
        out_axes = event_axes(spec, spec.outputs)
        for i, job in enumerate(jobs):
            if on_start is not None:
                on_start(i, len(jobs), job.name)
            key = Key(
                model=ref.label,
                backend=job.backend,
                batch=spec.default_batch(),
                threads=job.threads,
                options=dict(job.options),
                dims=dict(dims),
                model_params=dict(ref.params),
                exporter=job.exporter,
                seed=request.seed,
            )
            spec_job = {
                "key": key.to_dict(),
                "model_ref": ref.to_dict(),
                "policy": TimingPolicy().to_dict(),
                "measure": False,
                "input_files": [
                    {
                        "name": n,
                        "inputs": str(paths[_source(n)]),
                        "outputs": str(job.outputs(work, n)),
                        "chunk": by_name[_source(n)].chunk,
                        "axes": in_axes,
                        "out_axes": out_axes,
                    }
                    for n in job.sets
                ],
            }
            job.result = run_job(spec_job, work, job.name, request.timeout_s, env=job.env or None)
        return _report(request, ref, spec, reference, sets, jobs, work, tol)
    finally:
        if own and not keep_workdir:
            shutil.rmtree(work, ignore_errors=True)


def _source(set_name: str) -> str:
    """The input set a job entry reads ("realistic_again" reads "realistic")."""
    return set_name.removesuffix("_again")


# --- analysis ------------------------------------------------------------------------------------


def _load(job: _Job, work: Path, set_name: str) -> dict[str, np.ndarray] | str:
    """A job's outputs on a set, or why there are none."""
    if job.result.get("status") != "ok":
        return str(job.result.get("error", {}).get("message", "worker failed"))
    for r in job.result.get("input_files", []):
        if r["name"] == set_name and r["status"] != "ok":
            return str(r["message"])
    path = job.outputs(work, set_name)
    if not path.exists():
        return "no outputs"
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def argmax_outputs(request: ValidateRequest, spec: ModelSpec) -> list[str]:
    """The outputs whose argmax flips are counted."""
    if request.argmax is not None:
        names = {t.name for t in spec.outputs}
        for n in request.argmax:
            if n not in names:
                raise ConfigurationError(
                    f"--argmax {n}: the model has no output of that name "
                    f"({', '.join(sorted(names))})"
                )
        return list(request.argmax)
    if not spec.classifier:
        return []
    return [
        t.name
        for t in spec.outputs
        if len(t.shape) >= 2 and isinstance(t.shape[-1], int) and t.shape[-1] >= 2
    ]


def _same(
    a: dict[str, np.ndarray], b: dict[str, np.ndarray], axes: Mapping[str, int | None]
) -> dict[str, Any]:
    """Bitwise comparison: identical or not, with the worst difference located."""
    return compare(a, b, tol=Tolerance(0.0, 0.0), batch_axes=axes)


def _answer(summaries: list[tuple[str, dict[str, Any] | str]]) -> dict[str, Any]:
    """A reproducibility answer from comparisons: yes when every one is identical."""
    errors = [(what, s) for what, s in summaries if isinstance(s, str)]
    done = [(what, s) for what, s in summaries if not isinstance(s, str)]
    if not done:
        return {"answer": "n/a", "reason": errors[0][1] if errors else "nothing to compare"}
    bad = [(what, s) for what, s in done if s["verdict"] != "identical"]
    out: dict[str, Any] = {
        "answer": "no" if bad else "yes",
        "each": {w: "yes" if s["verdict"] == "identical" else "no" for w, s in done},
    }
    if errors:
        out["errors"] = {w: e for w, e in errors}
    worst_abs, worst_ulp = 0.0, 0
    for _, s in done:
        for o in s["outputs"].values():
            worst_abs = max(worst_abs, o.get("max_abs", 0.0))
            worst_ulp = max(worst_ulp, o.get("ulp_max", 0))
    out["max_abs"] = worst_abs
    out["ulp_max"] = worst_ulp
    if bad:
        what, s = max(
            bad, key=lambda ws: max(o.get("max_abs", 0.0) for o in ws[1]["outputs"].values())
        )
        out["worst"] = {"where": what, **s.get("worst", {})}
        nan = sum(o.get("nan", 0) + o.get("inf", 0) for _, s in bad for o in s["outputs"].values())
        if nan:
            out["new_nonfinite"] = nan
    return out


def _event_slice(
    outputs: dict[str, np.ndarray], axes: Mapping[str, int | None], i: int
) -> dict[str, np.ndarray]:
    return {
        k: _take(v, axes.get(k, 0), i, i + 1)
        for k, v in outputs.items()
        if axes.get(k, 0) is not None
    }


def _report(
    request: ValidateRequest,
    ref: ModelRef,
    spec: ModelSpec,
    reference: str,
    sets: list[_Set],
    jobs: list[_Job],
    work: Path,
    tol: Tolerance,
) -> dict[str, Any]:
    checks = set(request.checks)
    argmax = argmax_outputs(request, spec)
    out_axes = event_axes(spec, spec.outputs)
    set_names = [s.name for s in sets]
    by_set = {s.name: s for s in sets}
    agree_sets = [n for n in set_names if n not in ("background", "signal")]
    report: dict[str, Any] = {
        "kind": "validate",
        "model": ref.label,
        "model_ref": ref.to_dict(),
        "reference": reference,
        "precision": request.precision,
        "tolerance": tol.to_dict(),
        "seed": request.seed,
        "inputs": {s.name: {k: list(v.shape) for k, v in s.inputs.items()} for s in sets},
        "argmax_outputs": argmax,
        "backends": [],
    }
    mains = [j for j in jobs if j.name.endswith("-main")]
    ref_job = mains[0]
    for job in mains:
        b = job.backend
        is_ref = job is ref_job
        entry: dict[str, Any] = {
            "backend": label(b, job.options),
            "options": job.options,
            "role": "reference" if is_ref else "backend",
        }
        if job.result.get("status") != "ok":
            err = job.result.get("error", {})
            entry.update(verdict="error", error=f"{err.get('message')} (phase {err.get('phase')})")
            report["backends"].append(entry)
            continue
        entry["settings"] = job.result.get("backend", {}).get("settings", {})
        entry["nonfinite"] = _nonfinite(job, work)
        if not is_ref and "agreement" in checks:
            entry.update(_agreement(ref_job, job, work, agree_sets, request, tol, argmax, out_axes))
        elif is_ref:
            entry["verdict"] = "reference"
        entry["reproducibility"] = _reproducibility(
            b, job, jobs, work, request, out_axes, set_names
        )
        if "physics" in checks and not is_ref and "background" in by_set:
            entry["physics"] = _physics(spec, ref_job, job, work, by_set, request)
        report["backends"].append(entry)
    if "physics" in checks and "background" not in by_set:
        report["physics_skipped"] = "the model's inputs have no event axis (rank-1 inputs)"
    if "physics" in checks and "background" in by_set:
        report["physics_score"] = physics.score_kind(spec)
        report["physics_events"] = {
            n: _n_events(by_set[n], spec) for n in ("background", "signal") if n in by_set
        }
    return report


def _nonfinite(job: _Job, work: Path) -> dict[str, int]:
    """NaN/Inf in a backend's own outputs per input set (the reference's included: a padded
    event that makes any backend produce NaN is a bug whoever is the reference)."""
    out = {}
    for n in job.sets:
        got = _load(job, work, n)
        if isinstance(got, dict):
            count = sum(
                int(np.count_nonzero(~np.isfinite(v))) for v in got.values() if v.dtype.kind == "f"
            )
            if count:
                out[n] = count
    return out


def _n_events(s: _Set, spec: ModelSpec) -> int:
    t = spec.inputs[0]
    return int(s.inputs[t.name].shape[event_axis(spec, t) or 0])


def _agreement(
    ref_job: _Job,
    job: _Job,
    work: Path,
    set_names: list[str],
    request: ValidateRequest,
    tol: Tolerance,
    argmax: list[str],
    axes: Mapping[str, int | None],
) -> dict[str, Any]:
    per_set: dict[str, Any] = {}
    for n in set_names:
        r, g = _load(ref_job, work, n), _load(job, work, n)
        if isinstance(r, str):
            per_set[n] = {"verdict": "unknown", "reason": f"the reference failed: {r}"}
        elif isinstance(g, str):
            per_set[n] = {"verdict": "error", "reason": g}
        else:
            per_set[n] = compare(r, g, request.precision, tol=tol, argmax=argmax, batch_axes=axes)
    ranks = {"identical": 0, "within tolerance": 1, "different": 2, "unknown": 1, "error": 3}
    worst_set = max(
        per_set, key=lambda n: (ranks[per_set[n]["verdict"]], _excess_key(per_set[n])), default=None
    )
    out: dict[str, Any] = {"sets": per_set}
    if worst_set is None:
        out["verdict"] = "unknown"
        return out
    w = per_set[worst_set]
    out["verdict"] = "different" if w["verdict"] == "error" else w["verdict"]
    if w["verdict"] == "error":
        out["worst"] = {"inputs": worst_set, "reason": w["reason"]}
    elif w.get("worst"):
        out["worst"] = {"inputs": worst_set, **w["worst"]}
    return out


def _excess_key(summary: Mapping[str, Any]) -> float:
    """How far the worst element of a summary is from agreement, for ranking input sets."""
    worst = summary.get("worst") or {}
    out = summary.get("outputs", {}).get(worst.get("output"), {})
    if out.get("nan") or out.get("inf"):
        return float("inf")
    return float(out.get("max_abs", 0.0))


def _reproducibility(
    b: str,
    main: _Job,
    jobs: list[_Job],
    work: Path,
    request: ValidateRequest,
    axes: Mapping[str, int | None],
    set_names: list[str],
) -> dict[str, Any]:
    checks = set(request.checks)
    prefix = main.name.removesuffix("-main")
    mine = {j.name.removeprefix(prefix + "-"): j for j in jobs if j.name.startswith(prefix + "-")}
    out: dict[str, Any] = {}

    def pair(
        a: dict[str, np.ndarray] | str, c: dict[str, np.ndarray] | str
    ) -> dict[str, Any] | str:
        if isinstance(a, str):
            return a
        if isinstance(c, str):
            return c
        return _same(a, c, axes)

    if "repeat" in checks:
        # The worker's first call on the model's default batch ran before the sets; the set
        # "realistic" itself then ran once; "repeat" compares two runs on the same loaded model.
        out["repeat"] = _answer(
            [
                (
                    "realistic vs itself, same process",
                    pair(_load(main, work, "realistic"), _load(main, work, "realistic_again")),
                )
            ]
        )
    if "rerun" in checks and "rerun" in mine:
        out["rerun"] = _answer(
            [
                (
                    "second process",
                    pair(_load(main, work, "realistic"), _load(mine["rerun"], work, "realistic")),
                )
            ]
        )
    if "threads" in checks:
        comps = []
        for name, j in mine.items():
            if name.startswith("threads"):
                for n in j.sets:
                    comps.append(
                        (f"{j.threads} threads, {n}", pair(_load(main, work, n), _load(j, work, n)))
                    )
        if comps:
            out["threads"] = _answer(comps)
    if "batch" in checks:
        comps = []
        sizes = {n: int(n.removeprefix("batch")) for n in set_names if n.startswith("batch")}
        batch_sets = [n for n in set_names if n.startswith("batch") and sizes[n] > 1] + [
            "realistic"
        ]
        for n in set_names:
            if not n.startswith("alone"):
                continue
            i = int(n.removeprefix("alone"))
            alone = _load(main, work, n)
            for bs in batch_sets:
                inside = _load(main, work, bs)
                if isinstance(inside, dict):
                    size = next(iter(inside.values())).shape[0]
                    if i >= size:
                        continue
                    inside = _event_slice(inside, axes, i)
                label = bs if bs != "realistic" else f"batch{max(request.batch_sizes)}"
                if isinstance(alone, dict):
                    alone = {k: v for k, v in alone.items() if axes.get(k, 0) is not None}
                comps.append((f"event {i} alone vs in {label}", pair(alone, inside)))
        if comps:
            out["batch_invariance"] = _answer(comps)
            worst = out["batch_invariance"].get("worst")
            if worst and worst.get("event") is not None:
                worst["event"] = int(worst["where"].split()[1])  # the event's index in the batch
        else:
            out["batch_invariance"] = {"answer": "n/a", "reason": "the model's batch size is fixed"}
    if "exporter" in checks and not any(name.startswith("exporter") for name in mine):
        out["exporter"] = {
            "answer": "n/a",
            "reason": "exporters compared only where a backend runs a zoo model's ONNX export",
        }
    exporter_jobs = [j for name, j in mine.items() if name.startswith("exporter")]
    if "exporter" in checks and exporter_jobs:
        j = exporter_jobs[0]
        out["exporter"] = _answer(
            [
                (
                    f"{main.exporter} vs {j.exporter}, {n}",
                    pair(_load(main, work, n), _load(j, work, n)),
                )
                for n in j.sets
            ]
        )
    if "isa" in checks:
        caps, note = isa_caps(backend_class(b).name)
        comps = []
        for k, (label, _env) in enumerate(caps):
            capped = mine.get(f"isa{k}")
            if capped is not None:
                comps.append(
                    (label, pair(_load(main, work, "realistic"), _load(capped, work, "realistic")))
                )
        if comps:
            out["isa"] = {**_answer(comps), "note": note}
            out["isa"]["levels"] = {
                label: mine[f"isa{k}"]
                .result.get("backend", {})
                .get("settings", {})
                .get("cpu_capability")
                for k, (label, _) in enumerate(caps)
                if f"isa{k}" in mine
            }
        else:
            out["isa"] = {"answer": "n/a", "reason": note}
            # What can still be told without a switch: is it deterministic at all?
            instead = {k: out[k]["answer"] for k in ("repeat", "rerun", "threads") if k in out}
            if instead:
                out["isa"]["instead"] = instead
    return out


def _physics(
    spec: ModelSpec,
    ref_job: _Job,
    job: _Job,
    work: Path,
    sets: Mapping[str, _Set],
    request: ValidateRequest,
) -> dict[str, Any]:
    loaded = {n: (_load(ref_job, work, n), _load(job, work, n)) for n in ("background", "signal")}
    for n, (r, g) in loaded.items():
        if isinstance(r, str):
            return {"error": f"the reference failed on the {n} sample: {r}"}
        if isinstance(g, str):
            return {"error": f"failed on the {n} sample: {g}"}
    score = {
        n: (physics.scores(spec, sets[n].inputs, r), physics.scores(spec, sets[n].inputs, g))  # type: ignore[arg-type]
        for n, (r, g) in loaded.items()
    }
    return physics.parity(
        score["signal"][0],
        score["background"][0],
        score["signal"][1],
        score["background"][1],
        request.background_efficiency,
    )


def verdict_rank(verdict: str) -> int:
    """Order of verdicts for summaries: errors after 'different'."""
    return VERDICTS.index(verdict) if verdict in VERDICTS else len(VERDICTS)
