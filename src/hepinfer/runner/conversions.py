"""The conversion matrix of one model: which routes between formats work, and how well.

For an ONNX file or a zoo model, each route (ONNX -> Keras, ONNX -> PyTorch, ONNX -> SOFIE,
Keras -> SOFIE, Keras -> ONNX, torch -> ONNX with each exporter) converts the model with the
tool hepinfer uses for it, runs the converted model on the same seeded inputs as the source,
and reports the largest absolute difference from the source's outputs (the ONNX file on ONNX
Runtime; a zoo model's PyTorch definition). A route that fails says why in one line (the
converter's message, naming the operator where it can be told); one that does not apply says
so. onnx2torch converts and runs in its venv's interpreter, in a subprocess. The matrix is
cached on disk by the model's identity, the batch, the sizes and ``MATRIX_VERSION``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.cache import cache_dir, digest, file_digest
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.errors import ConfigurationError, first_line
from hepinfer.zoo import ModelRef, ModelSpec, build_inputs

# Bump when a route or its figure changes meaning (the cache key).
MATRIX_VERSION = 2
FORMAT = "hepinfer-conversions/1"
ROUTES = (
    ("onnx", "keras", "onnx2keras"),
    ("onnx", "pytorch", "onnx2torch"),
    ("onnx", "sofie", "SOFIE onnx parser"),
    ("keras", "sofie", "SOFIE keras parser"),
    ("keras", "onnx", "tf2onnx"),
    ("torch", "onnx", "torch.onnx dynamo"),
    ("torch", "onnx", "torch.onnx legacy"),
)

Outputs = dict[str, np.ndarray]


class NotApplicable(Exception):
    """The route does not start from a format this model has."""


class RouteError(Exception):
    """A route that failed in a tool other than its converter (the runtime that runs the result)."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


# Where a converter's one line names what failed: "at operator LSTM (node 'x')", "at layer
# LAYER_6", SOFIE's "unsupported operators PRelu", tf2onnx's "Unsupported ops: Counter({'X': 1})",
# torch.onnx's "the operator 'aten::x'", ONNX Runtime's "node. Name:'x' OpType:Y".
_NAMED = (
    re.compile(r"\bat ((?:operator|layer|node) [\w.:/']+(?: \([^)]*\))?)"),
    re.compile(r"unsupported operators? ([\w, ]+)", re.IGNORECASE),
    re.compile(r"Unsupported ops: Counter\(\{'([\w.:]+)'"),
    re.compile(r"operator '([\w.:]+)'"),
    re.compile(r"OpType:\s*(\w+)"),
)


def _failure_row(tool: str, err: BaseException) -> dict[str, Any]:
    """A failed route's row: the one-line error, the tool it failed in (the converter, or the
    runtime the result ran on), and what it failed at (operator, layer or node) where told."""
    line = f"{type(err).__name__}: {first_line(err)}"
    at = None
    for pattern in _NAMED:
        found = pattern.search(str(err))
        if found:
            at = found.group(1).strip().rstrip(",")
            if pattern is not _NAMED[0]:
                at = f"operator {at}"
            break
    if at is None:
        at = _keras_layer_parsed(err)
        if at is not None:
            line = f"{line} [at {at}]"
    return {"status": "failed", "error": line[:300], "failed_in": getattr(err, "tool", tool), "at": at}


def _keras_layer_parsed(err: BaseException) -> str | None:
    """The Keras layer SOFIE's Keras parser was on when it raised (its ``parse`` loop's
    ``layer`` local, from the traceback of the error or its causes), e.g. a Dense without a
    bias (IndexError: list index out of range), which SOFIE's own message does not name."""
    seen: BaseException | None = err
    while seen is not None:
        tb = seen.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename.endswith("sofie/keras/parser.py") and "layer" in frame.f_locals:
                layer = frame.f_locals["layer"]
                return f"layer {getattr(layer, 'name', layer)} ({type(layer).__name__})"
            tb = tb.tb_next
        seen = seen.__cause__ or seen.__context__
    return None


def conversion_matrix(
    ref: ModelRef, spec: ModelSpec, batch: int = 1, dims: Mapping[str, int] | None = None, seed: int = 0
) -> dict[str, Any]:
    """The matrix (``format``, ``model``, ``source``, ``batch``, ``dims``, ``routes``): one row
    per route with ``route`` ("onnx -> keras"), ``tool``, ``status`` (ok, failed, n/a),
    ``max_abs`` (against the source on the same inputs), ``error``/``reason``; a failed row
    also has ``failed_in`` (the tool) and ``at`` (the operator, layer or node, None where the
    tool did not tell). Cached."""
    if ref.kind not in ("onnx", "zoo"):
        raise ConfigurationError(
            f"the conversion matrix takes an ONNX file or a zoo model, not a {ref.kind} file "
            f"({ref.label}); give its ONNX twin"
        )
    spec.check_batch(batch)
    sizes = spec.resolve_dims(spec.given_dims(dict(dims or {})))
    identity = file_digest(Path(ref.name)) if ref.kind == "onnx" else digest(ref.name, ref.params)
    key = digest(identity, batch, sizes, seed, MATRIX_VERSION)
    stem = Path(ref.name).stem if ref.kind == "onnx" else ref.name
    cached = cache_dir() / "matrix" / f"{stem}-{key}.json"
    if cached.exists():
        return {**json.loads(cached.read_text()), "cached": True}
    inputs = build_inputs(ref, spec, batch, sizes, seed)
    onnx = ModelArtifact(ref=ref, spec=spec, exporter="dynamo")
    source_kind = "onnx" if ref.kind == "onnx" else "torch"
    reference = _ort(onnx.onnx_path(), spec, inputs) if ref.kind == "onnx" else _torch(onnx, inputs)
    routes = []
    for src, dst, tool in ROUTES:
        row: dict[str, Any] = {"route": f"{src} -> {dst}", "tool": tool}
        try:
            got = _ROUTES[(src, dst, tool)](onnx, spec, inputs, sizes)
        except NotApplicable as why:
            row.update(status="n/a", reason=str(why))
        except Exception as err:
            row.update(_failure_row(tool, err))
        else:
            row.update(status="ok", max_abs=_max_abs(reference, got, spec))
        routes.append(row)
    out = {
        "format": FORMAT,
        "model": ref.label,
        "source": source_kind,
        "batch": batch,
        "dims": dict(sizes),
        "seed": seed,
        "routes": routes,
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, cached)
    return {**out, "cached": False}


def _max_abs(reference: Outputs, got: Outputs, spec: ModelSpec) -> float:
    """The largest absolute difference over every output (by the spec's names, in order)."""
    worst = 0.0
    for t in spec.outputs:
        a, b = np.asarray(reference[t.name], np.float64), np.asarray(got[t.name], np.float64)
        if a.shape != b.shape:
            raise ValueError(f"output {t.name} has shape {b.shape}, the source {a.shape}")
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
    return worst


def _by_position(values: list[Any], spec: ModelSpec) -> Outputs:
    return {t.name: np.asarray(v) for t, v in zip(spec.outputs, values, strict=True)}


def _ort(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> Outputs:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feeds = {k: v for k, v in inputs.items() if k in names}
    return _by_position(session.run(None, feeds), spec)


def _torch(model: ModelArtifact, inputs: Mapping[str, np.ndarray]) -> Outputs:
    import torch

    module = model.torch_module()
    with torch.no_grad():
        out = module(*[torch.from_numpy(inputs[t.name]) for t in model.spec.inputs])
    values = list(out) if isinstance(out, tuple | list) else [out]
    return _by_position([v.numpy() for v in values], model.spec)


def _ort_result(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> Outputs:
    """A route's ONNX file on ONNX Runtime: a failure there is ONNX Runtime's, not the exporter's."""
    try:
        return _ort(path, spec, inputs)
    except Exception as err:
        raise RouteError("ONNX Runtime", f"ONNX Runtime cannot run {path.name}: {first_line(err)}") from err


def _keras_run(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> Outputs:
    from hepinfer.zoo.native_file import load_keras_file

    model = load_keras_file(path)
    xs = [inputs[t.name] for t in spec.inputs]
    try:
        out = model(xs if len(xs) > 1 else xs[0], training=False)
    except Exception as err:
        raise RouteError("Keras", f"Keras cannot run {path.name}: {first_line(err)}") from err
    values = list(out) if isinstance(out, tuple | list) else [out]
    return _by_position([np.asarray(v) for v in values], spec)


def _keras_file(model: ModelArtifact) -> Path:
    """The model as a .keras file: a foreign ONNX file's onnx2keras conversion, or the zoo
    model's Keras twin saved (n/a where the zoo model has none)."""
    if model.ref.kind == "onnx":
        from hepinfer.convert.onnx_keras import onnx_to_keras

        try:
            return onnx_to_keras(model.onnx_path(), [t.name for t in model.spec.inputs]).path
        except Exception as err:  # the route's first step failed, not its own tool
            raise RouteError("onnx2keras", first_line(err)) from err
    if "keras" not in model.formats:
        raise NotApplicable(f"{model.ref.label} has no Keras twin")
    from hepinfer.zoo.keras_twins import build_keras

    path = cache_dir() / "matrix" / f"{model.ref.name}-{digest(model.ref.params)}-twin.keras"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        build_keras(model.ref.name, dict(model.ref.params)).save(str(path))
    return path


def _onnx_keras(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, _: Any) -> Outputs:
    from hepinfer.convert.onnx_keras import onnx_to_keras

    done = onnx_to_keras(model.onnx_path(), [t.name for t in spec.inputs])
    return _keras_run(done.path, spec, inputs)


def _onnx_torch(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, _: Any) -> Outputs:
    from hepinfer.convert.onnx_torch import onnx_to_torch

    done = onnx_to_torch(model.onnx_path())
    with tempfile.TemporaryDirectory(prefix="hepinfer-matrix-") as tmp:
        given, back = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(given, *[inputs[t.name] for t in spec.inputs])
        source = str(Path(__file__).resolve().parents[2])
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        ran = subprocess.run(
            [
                done.python,
                "-m",
                "hepinfer.convert.onnx_torch",
                "--run",
                str(done.path),
                str(given),
                str(back),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**env, "PYTHONPATH": source},
            check=False,
        )
        told = [json.loads(ln) for ln in ran.stdout.splitlines() if ln.startswith("{")]
        if told and "error" in told[-1]:
            raise RouteError("torch (onnx2torch's module)", told[-1]["error"])
        if ran.returncode != 0:
            said = (ran.stderr or ran.stdout).strip().splitlines()
            raise RouteError(
                "torch (onnx2torch's module)",
                f"onnx2torch's module fails when run: {said[-1] if said else ran.returncode}",
            )
        with np.load(back) as found:
            return _by_position([found[f"arr_{i}"] for i in range(len(found.files))], spec)


def _sofie(model: ModelArtifact, parser: str, inputs: Outputs, sizes: Mapping[str, int]) -> Outputs:
    from hepinfer.backends.sofie import SofieBackend, SofieOptions

    options = SofieOptions(parser=parser)  # type: ignore[arg-type]
    shapes = {k: tuple(v.shape) for k, v in inputs.items()}
    SofieBackend.prebuild(model, options, shapes)
    backend = SofieBackend()
    backend.load(model, options)
    prepared = backend.prepare(inputs)
    return backend.fetch(prepared, backend.run(prepared))


def _onnx_sofie(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, sizes: Any) -> Outputs:
    return _sofie(model, "onnx", inputs, sizes)


def _keras_sofie(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, sizes: Any) -> Outputs:
    if model.ref.kind == "zoo" and "keras" not in model.formats:
        raise NotApplicable(f"{model.ref.label} has no Keras twin")
    if model.ref.kind == "onnx":
        _keras_file(model)  # onnx2keras first (cached): its failure is named as its own
    return _sofie(model, "keras", inputs, sizes)


def _keras_onnx(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, _: Any) -> Outputs:
    if model.ref.kind == "zoo":
        if "keras" not in model.formats:
            raise NotApplicable(f"{model.ref.label} has no Keras twin")
        twin = ModelArtifact(ref=model.ref, spec=spec, exporter="tf2onnx")
        return _ort_result(twin.onnx_path(), spec, inputs)
    # A foreign ONNX file: its onnx2keras model back through tf2onnx (the round trip).
    from hepinfer.zoo import model_ref, spec_of

    keras_ref = model_ref(str(_keras_file(model)))
    keras_spec = spec_of(keras_ref)
    path = ModelArtifact(ref=keras_ref, spec=keras_spec, exporter="tf2onnx").onnx_path()
    feeds = {k.name: inputs[s.name] for k, s in zip(keras_spec.inputs, spec.inputs, strict=True)}
    return _by_position(list(_ort_result(path, keras_spec, feeds).values()), spec)


def _torch_onnx(exporter: str) -> Callable[..., Outputs]:
    def route(model: ModelArtifact, spec: ModelSpec, inputs: Outputs, _: Any) -> Outputs:
        if model.ref.kind != "zoo":
            raise NotApplicable("no PyTorch model: the source is an ONNX file")
        from hepinfer.convert.torch_onnx import export_zoo

        return _ort_result(export_zoo(model.ref, spec, exporter).path, spec, inputs)  # type: ignore[arg-type]

    return route


_ROUTES: dict[tuple[str, str, str], Callable[..., Outputs]] = {
    ROUTES[0]: _onnx_keras,
    ROUTES[1]: _onnx_torch,
    ROUTES[2]: _onnx_sofie,
    ROUTES[3]: _keras_sofie,
    ROUTES[4]: _keras_onnx,
    ROUTES[5]: _torch_onnx("dynamo"),
    ROUTES[6]: _torch_onnx("legacy"),
}


def store(matrix: dict[str, Any], results: Path) -> Path:
    """Keep the matrix beside a results file (``RESULTS.conversions.json``, by model label),
    where the HTML report finds it."""
    path = results.with_name(results.name + ".conversions.json")
    found = json.loads(path.read_text()) if path.exists() else {}
    found[matrix["model"]] = {k: v for k, v in matrix.items() if k != "cached"}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(found, indent=1))
    os.replace(tmp, path)
    return path
