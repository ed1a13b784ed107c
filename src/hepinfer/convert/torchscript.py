"""TorchScript archives (``torch.jit.save``) -> ONNX with torch.onnx, cached by the file's digest.

The dynamo exporter (torch.export) cannot take a ScriptModule, so the legacy TorchScript-based
exporter converts it; the record says which. Only archives are loaded, never pickles
(``zoo.native_file.check_torchscript``).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path

from hepinfer.cache import cache_dir, digest, file_digest, publish
from hepinfer.convert.torch_onnx import DEFAULT_OPSET, Export, failing_operation
from hepinfer.errors import ConversionError, first_line
from hepinfer.zoo import ModelRef, ModelSpec, build_inputs
from hepinfer.zoo.native_file import load_torchscript
from hepinfer.zoo.spec import BATCH


def export_torchscript(ref: ModelRef, spec: ModelSpec, opset: int = DEFAULT_OPSET) -> Export:
    """The archive as one ONNX file with the spec's names and dynamic axes (legacy exporter)."""
    import torch

    path = Path(ref.name)
    shapes = [t.describe() for t in spec.inputs]
    key = digest(file_digest(path), shapes, [t.name for t in spec.outputs], opset, torch.__version__)
    out = cache_dir() / "onnx" / f"{ref.safe_name}-torchscript-legacy-{key}.onnx"
    if out.exists():
        return Export(out, "legacy", opset, 0.0, cached=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    module = load_torchscript(path)
    dims = {s: 2 for t in spec.inputs for s in t.symbols()}
    example = build_inputs(ref, spec, 2, dims, seed=0)
    args = tuple(torch.from_numpy(example[t.name]) for t in spec.inputs)
    axes = {
        t.name: {i: (d if d != BATCH else "batch") for i, d in enumerate(t.shape) if isinstance(d, str)}
        for t in (*spec.inputs, *spec.outputs)
    }
    tmp = out.with_suffix(".tmp.onnx")
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                args,
                str(tmp),
                input_names=[t.name for t in spec.inputs],
                output_names=[t.name for t in spec.outputs],
                dynamic_axes={k: v for k, v in axes.items() if v},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as err:
        op = failing_operation(err)
        where = f" at {op}" if op else ""
        raise ConversionError(
            f"torch.onnx (legacy exporter) failed on {ref.label}{where}: "
            f"{type(err).__name__}: {first_line(err)}"
        ) from err
    seconds = time.perf_counter() - start
    publish(tmp, out)
    return Export(out, "legacy", opset, seconds, cached=False)
