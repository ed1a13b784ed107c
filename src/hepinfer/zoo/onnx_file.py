"""A ModelSpec read from any ONNX file a user brings, quirks of real exports included."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hepinfer.errors import ModelError
from hepinfer.zoo.spec import BATCH, Dim, ModelSpec, Role, TensorSpec

# Symbols exporters write for a batch axis when it is the first one. Any symbol in the first
# axis is taken as the batch; these names are also recognised elsewhere for the record.
_BATCH_NAMES = re.compile(r"^(N|n|B|b|batch|batch_size|None|\?|-1|1|unk__\d+)$")


def load_onnx(path: Path) -> Any:
    """Load and check an ONNX file, turning every failure into one clear ModelError."""
    import onnx

    if not path.exists():
        raise ModelError(
            f"no such model file or zoo name: {path}; give a zoo name (see 'hepinfer zoo') "
            "or the path of an .onnx file"
        )
    if path.is_dir():
        raise ModelError(f"{path} is a directory; give the path of an .onnx file")
    try:
        model = onnx.load(str(path))
    except Exception as err:
        raise ModelError(
            f"{path} is not a readable ONNX file ({type(err).__name__}: {_first_line(err)}); "
            "check that it is an ONNX model and was copied whole"
        ) from err
    if not model.graph.node and not model.graph.input:
        raise ModelError(
            f"{path} holds no ONNX graph (empty or not an ONNX file); re-export the model"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise ModelError(
            f"{path} is not a valid ONNX model ({_first_line(err)}); it may be truncated: "
            "copy or export it again"
        ) from err
    return model


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _dims(value_info: Any) -> list[int | str | None]:
    """Each axis as a size, a symbol, or None when the file says nothing."""
    shape = value_info.type.tensor_type.shape
    out: list[int | str | None] = []
    for d in shape.dim:
        if d.HasField("dim_param"):
            out.append(d.dim_param)
        elif d.HasField("dim_value"):
            out.append(d.dim_value)
        else:
            out.append(None)
    return out


def _dtype(value_info: Any) -> str:
    from onnx.helper import tensor_dtype_to_np_dtype

    return str(tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type))


def _role(name: str, dtype: str) -> Role:
    if "mask" in name.lower():
        return "mask"
    if dtype.startswith(("int", "uint")):
        return "index"
    return "features"


def spec_from_onnx(path: Path) -> ModelSpec:
    """Read inputs (graph inputs without an initializer) and outputs with their axes.

    The first axis is the batch when it is a symbol (``N``, ``'1'``, ``unk__123``), unknown,
    or the number 0 (MXNet exports); a fixed positive first axis of a tensor of rank 2 or more
    means the file fixes the batch size; a rank-1 input has no batch axis at all.
    """
    model = load_onnx(path)
    initializers = {init.name for init in model.graph.initializer}
    encodings: list[str] = []
    fixed: set[int] = set()
    inputs: list[TensorSpec] = []
    for vi in model.graph.input:
        if vi.name in initializers:
            continue  # weights listed as graph inputs (DeepAK8) are not model inputs
        dims = _dims(vi)
        dtype = _dtype(vi)
        shape: list[Dim] = []
        for axis, d in enumerate(dims):
            if axis == 0 and len(dims) >= 2:
                if d is None or d == 0 or isinstance(d, str):
                    encodings.append(repr(d))
                    shape.append(BATCH)
                    continue
                fixed.add(d)
            if d is None or d == 0:
                raise ModelError(
                    f"{path.name}: input '{vi.name}' has an axis {axis} of unknown size; "
                    "re-export the model with named dynamic axes"
                )
            shape.append(d if isinstance(d, int) else _symbol(d))
        if len(dims) < 2:
            fixed.add(1)  # a rank-0/1 input is one event: the file runs only at batch 1
        inputs.append(TensorSpec(vi.name, tuple(shape), dtype, _role(vi.name, dtype)))
    if not inputs:
        raise ModelError(f"{path.name} has no inputs (every graph input has an initializer)")
    has_batch = any(t.batch_axis is not None for t in inputs)
    fixed_batch = None if has_batch else min(fixed, default=1)
    outputs = []
    for vo in model.graph.output:
        dims = _dims(vo)
        shape_o: list[Dim] = []
        for i, d in enumerate(dims):
            if i == 0 and has_batch and (d is None or d == 0 or isinstance(d, str)):
                shape_o.append(BATCH)
            else:
                shape_o.append(d if isinstance(d, int) else _symbol(d))
        outputs.append(TensorSpec(vo.name, tuple(shape_o), _dtype(vo)))
    classifier = any(n.op_type == "Softmax" for n in model.graph.node)
    return ModelSpec(
        name=path.name,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        fixed_batch=fixed_batch,
        batch_encodings=tuple(encodings),
        classifier=classifier,
    )


def _symbol(d: int | str | None) -> str:
    return str(d) if d is not None else "?"
