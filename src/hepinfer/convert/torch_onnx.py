"""PyTorch -> ONNX export of zoo models, with both torch exporters, cached by content.

Every axis the spec marks as dynamic (the batch, particle and node counts) stays dynamic in
the file, under the spec's own names (``batch``, ``n_pf``...). When an exporter fails, the
error names the exporter and the operation it could not handle; with ``fallback=True`` the
other exporter is tried and the first failure is kept in the result.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hepinfer._optional import require
from hepinfer.cache import cache_dir, digest, publish
from hepinfer.errors import ConversionError
from hepinfer.zoo import ModelRef, ModelSpec, build_inputs, entry
from hepinfer.zoo.spec import BATCH

Exporter = Literal["dynamo", "legacy"]
EXPORTERS: tuple[Exporter, ...] = ("dynamo", "legacy")
DEFAULT_OPSET = 18

# How the two exporters and torch.export name an operation they cannot handle.
_OP_PATTERNS = (
    re.compile(r"operator '?(aten::\w+)'?"),
    re.compile(r"\b(aten::\w+(?:\.\w+)?)"),
    re.compile(r"\b(aten\.\w+(?:\.\w+)?)"),
    re.compile(r"\b(torch\.ops\.\w+\.\w+(?:\.\w+)?)"),
    re.compile(r"\bfunction (torch\.[\w.]+|<built-in[^>]*>)"),
    re.compile(r"\b(torch\.(?:nn\.functional|Tensor)\.\w+)"),
)


@dataclass(frozen=True)
class Export:
    """An exported ONNX file and how it was made."""

    path: Path
    exporter: Exporter
    opset: int
    seconds: float
    cached: bool
    # When fallback was allowed and the requested exporter failed: its one-line error.
    fallback_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs and provenance."""
        out: dict[str, Any] = {
            "path": str(self.path),
            "exporter": self.exporter,
            "opset": self.opset,
            "seconds": self.seconds,
            "cached": self.cached,
        }
        if self.fallback_from:
            out["fallback_from"] = self.fallback_from
        return out


def failing_operation(err: BaseException) -> str | None:
    """The operation an exporter names in its error (or the errors it chains), if any."""
    seen: set[int] = set()
    texts: list[str] = []
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        texts.append(_ANSI.sub("", f"{type(cur).__name__}: {cur}"))
        cur = cur.__cause__ or cur.__context__
    text = "\n".join(texts)
    for pattern in _OP_PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _first_line(err: BaseException) -> str:
    """The line that says what went wrong (torch.onnx puts it under 'Exception summary')."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(err)).splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        after = lines[lines.index("## Exception summary") + 1 :]
        if after:
            return after[0][:300]
    return lines[0][:300] if lines else type(err).__name__


def _module_sources(module: str) -> str:
    """Source of the family module and the shared layers it builds on (the cache key)."""
    names = (f"hepinfer.zoo.{module}", "hepinfer.zoo.layers")
    return "".join(inspect.getsource(importlib.import_module(n)) for n in names)


def export_zoo(
    ref: ModelRef, spec: ModelSpec, exporter: Exporter = "dynamo", fallback: bool = False
) -> Export:
    """The zoo model as one self-contained .onnx file with its dynamic axes kept dynamic.

    The cache key covers the model's name and options, the source of its definition, the
    exporter, opset and torch version, so a changed definition is exported again. With
    ``fallback`` a failure of ``exporter`` is followed by a try of the other one.
    """
    if exporter not in EXPORTERS:
        raise ConversionError(f"unknown exporter '{exporter}': use one of {', '.join(EXPORTERS)}")
    try:
        return _export(ref, spec, exporter)
    except ConversionError as first:
        if not fallback:
            raise
        other: Exporter = "legacy" if exporter == "dynamo" else "dynamo"
        try:
            done = _export(ref, spec, other)
        except ConversionError as second:
            raise ConversionError(f"both torch exporters failed: {first}; and {second}") from second
        return Export(done.path, done.exporter, done.opset, done.seconds, done.cached, str(first))


def _export(ref: ModelRef, spec: ModelSpec, exporter: Exporter) -> Export:
    torch = require("torch", f"exporting the zoo model {ref.name} to ONNX")

    zoo_entry = entry(ref.name)
    source = _module_sources(zoo_entry.module)
    key = digest(ref.to_dict(), exporter, DEFAULT_OPSET, torch.__version__, digest(source))
    path = cache_dir() / "onnx" / f"{ref.name}-{exporter}-{key}.onnx"
    if path.exists():
        return Export(path, exporter, DEFAULT_OPSET, 0.0, cached=True)
    path.parent.mkdir(parents=True, exist_ok=True)

    model = zoo_entry.build(dict(ref.params))
    # Batch 2 for tracing: torch.export specialises sizes 0 and 1.
    example = build_inputs(ref, spec, 2, spec.resolve_dims({}), seed=0)
    args = tuple(torch.from_numpy(example[t.name]) for t in spec.inputs)
    in_names = [t.name for t in spec.inputs]
    out_names = [t.name for t in spec.outputs]
    tmp = path.with_suffix(".tmp.onnx")
    start = time.perf_counter()
    try:
        # The new exporter prints its progress; keep the worker's output for errors.
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            # The exporters' deprecation notices about their own internals (and the legacy
            # exporter's about itself, chosen on purpose) are noise for the user, and where
            # warnings are errors (tests, -W error) they would fail a sound export.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            # The tracer's notes on Python control flow: the zoo's graphs do not depend on it.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            if exporter == "dynamo":
                auto = torch.export.Dim.AUTO
                dynamic = tuple(
                    {axis: auto for axis, d in enumerate(t.shape) if isinstance(d, str)} for t in spec.inputs
                )
                torch.onnx.export(
                    model, args, str(tmp), dynamo=True, input_names=in_names,
                    output_names=out_names, dynamic_shapes=dynamic, opset_version=DEFAULT_OPSET,
                    external_data=False, optimize=True,
                )  # fmt: skip
            else:
                axes = {
                    t.name: {axis: d for axis, d in enumerate(t.shape) if isinstance(d, str)}
                    for t in (*spec.inputs, *spec.outputs)
                }
                torch.onnx.export(
                    model, args, str(tmp), dynamo=False, input_names=in_names,
                    output_names=out_names, dynamic_axes={k: v for k, v in axes.items() if v},
                    opset_version=DEFAULT_OPSET,
                )  # fmt: skip
    except Exception as err:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".data").unlink(missing_ok=True)
        op = failing_operation(err)
        where = f" at operation {op}" if op else ""
        other = "legacy" if exporter == "dynamo" else "dynamo"
        raise ConversionError(
            f"the {exporter} torch exporter failed on {ref.label}{where}: "
            f"{type(err).__name__}: {_first_line(err)}; try --exporter {other}"
        ) from err
    seconds = time.perf_counter() - start
    data = tmp.with_name(tmp.name + ".data")
    if data.exists():  # weights must live inside the file: one self-contained artefact
        tmp.unlink(missing_ok=True)
        data.unlink()
        raise ConversionError(f"the {exporter} exporter wrote external weights for {ref.label}")
    _name_axes(tmp, spec)
    publish(tmp, path)
    return Export(path, exporter, DEFAULT_OPSET, seconds, cached=False)


def _name_axes(path: Path, spec: ModelSpec) -> None:
    """Give the file's dynamic axes the spec's names (torch.export calls them s0, s1...).

    A name the exporter chose for an input axis is replaced everywhere it appears (outputs,
    intermediate shapes), so that ``batch`` on the inputs is ``batch`` on the outputs.
    """
    import onnx

    model = onnx.load(str(path))
    rename: dict[str, str] = {}
    by_name = {t.name: t for t in (*spec.inputs, *spec.outputs)}
    for vi in model.graph.input:
        t = by_name.get(vi.name)
        if t is None:
            continue
        for d, want in zip(vi.type.tensor_type.shape.dim, t.shape, strict=False):
            if isinstance(want, str) and d.HasField("dim_param") and d.dim_param != want:
                rename.setdefault(d.dim_param, want)
    for vi in model.graph.output:  # an output axis the exporter left unnamed or fixed
        t = by_name.get(vi.name)
        if t is None:
            continue
        for d, want in zip(vi.type.tensor_type.shape.dim, t.shape, strict=False):
            if want == BATCH and not d.HasField("dim_param"):
                d.dim_param = BATCH
    if not rename:
        onnx.save(model, str(path))
        return
    for vi in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
    onnx.save(model, str(path))
