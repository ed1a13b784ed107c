"""PyTorch -> ONNX export of zoo models, with both torch exporters, cached by content."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hepinfer.convert.cache import cache_dir, digest, publish
from hepinfer.errors import ConversionError
from hepinfer.zoo import ModelRef, ModelSpec, build_inputs, entry

Exporter = Literal["dynamo", "legacy"]
EXPORTERS: tuple[Exporter, ...] = ("dynamo", "legacy")
DEFAULT_OPSET = 18


@dataclass(frozen=True)
class Export:
    """An exported ONNX file and how it was made."""

    path: Path
    exporter: Exporter
    opset: int
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs and provenance."""
        return {
            "path": str(self.path),
            "exporter": self.exporter,
            "opset": self.opset,
            "seconds": self.seconds,
            "cached": self.cached,
        }


def export_zoo(ref: ModelRef, spec: ModelSpec, exporter: Exporter = "dynamo") -> Export:
    """The zoo model as one self-contained .onnx file with a dynamic batch axis.

    The cache key covers the model's name and options, the source of its definition, the
    exporter, opset and torch version, so a changed definition is exported again.
    """
    import torch

    if exporter not in EXPORTERS:
        raise ConversionError(f"unknown exporter '{exporter}': use one of {', '.join(EXPORTERS)}")
    zoo_entry = entry(ref.name)
    source = inspect.getsource(importlib.import_module(f"hepinfer.zoo.{zoo_entry.module}"))
    key = digest(ref.to_dict(), exporter, DEFAULT_OPSET, torch.__version__, digest(source))
    path = cache_dir() / "onnx" / f"{ref.name}-{exporter}-{key}.onnx"
    if path.exists():
        return Export(path, exporter, DEFAULT_OPSET, 0.0, cached=True)
    path.parent.mkdir(parents=True, exist_ok=True)

    model = zoo_entry.build(dict(ref.params))
    # Batch 2 for tracing: torch.export specialises sizes 0 and 1.
    example = build_inputs(ref, spec, 2, dict(spec.default_dims), seed=0)
    args = tuple(torch.from_numpy(example[t.name]) for t in spec.inputs)
    in_names = [t.name for t in spec.inputs]
    out_names = [t.name for t in spec.outputs]
    tmp = path.with_suffix(".tmp.onnx")
    start = time.perf_counter()
    try:
        # The new exporter prints its progress; keep the worker's output for errors.
        with contextlib.redirect_stdout(io.StringIO()):
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1)
                dynamic = tuple(
                    {t.batch_axis: batch} if t.batch_axis is not None else {} for t in spec.inputs
                )
                torch.onnx.export(
                    model,
                    args,
                    str(tmp),
                    dynamo=True,
                    input_names=in_names,
                    output_names=out_names,
                    dynamic_shapes=dynamic,
                    opset_version=DEFAULT_OPSET,
                    external_data=False,
                    optimize=True,
                )
            else:
                axes = {
                    t.name: {t.batch_axis: "batch"}
                    for t in (*spec.inputs, *spec.outputs)
                    if t.batch_axis is not None
                }
                torch.onnx.export(
                    model,
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=in_names,
                    output_names=out_names,
                    dynamic_axes=axes,
                    opset_version=DEFAULT_OPSET,
                )
    except Exception as err:
        tmp.unlink(missing_ok=True)
        other = "legacy" if exporter == "dynamo" else "dynamo"
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConversionError(
            f"the {exporter} torch exporter failed on {ref.label}: {type(err).__name__}: {first}; "
            f"try --exporter {other}"
        ) from err
    seconds = time.perf_counter() - start
    data = tmp.with_name(tmp.name + ".data")
    if data.exists():  # weights must live inside the file: one self-contained artefact
        tmp.unlink(missing_ok=True)
        data.unlink()
        raise ConversionError(f"the {exporter} exporter wrote external weights for {ref.label}")
    publish(tmp, path)
    return Export(path, exporter, DEFAULT_OPSET, seconds, cached=False)
