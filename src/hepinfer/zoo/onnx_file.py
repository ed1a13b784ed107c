"""A ModelSpec read from any ONNX file a user brings, quirks of real exports included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hepinfer.errors import ModelError, first_line
from hepinfer.zoo.spec import BATCH, Dim, ModelSpec, Role, TensorSpec


def load_onnx(path: Path) -> Any:
    """Load an ONNX file, turning every failure to read it into one clear ModelError.

    A truncated or foreign file fails to parse. The ONNX checker is not applied here: real
    exports that ONNX Runtime runs fail it (rootbench's DDB_B1 lists nodes out of order);
    ``checker_note`` reports its objection instead.
    """
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
            f"{path} is not a readable ONNX file ({type(err).__name__}: {first_line(err)}); "
            "check that it is an ONNX model and was copied whole"
        ) from err
    if not model.graph.node and not model.graph.input:
        raise ModelError(f"{path} holds no ONNX graph (empty or not an ONNX file); re-export the model")
    return model


def checker_note(model: Any) -> str | None:
    """What the ONNX checker objects to, or None; a note for the record, not an error."""
    import onnx

    try:
        onnx.checker.check_model(model)
    except Exception as err:
        return f"the ONNX checker objects: {first_line(err)}"
    return None


def _dims(value_info: Any) -> list[int | str]:
    """Each axis as a size or a symbol; 0 where the file gives neither (unknown)."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_param if d.HasField("dim_param") else d.dim_value for d in shape.dim]


def _dtype(value_info: Any) -> str:
    from onnx.helper import tensor_dtype_to_np_dtype

    return str(tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type))


def role_of(name: str, dtype: str) -> Role:
    """A tensor's role from its name and dtype: a mask, integer indices, or features."""
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
    raw: list[tuple[str, list[Dim], str]] = []
    generated: set[str] = set()
    for vi in model.graph.input:
        if vi.name in initializers:
            continue  # weights listed as graph inputs (DeepAK8) are not model inputs
        dims = _dims(vi)
        dtype = _dtype(vi)
        shape: list[Dim] = []
        blank = [a for a, d in enumerate(dims) if a > 0 and (d == 0 or isinstance(d, str))]
        for axis, d in enumerate(dims):
            if axis == 0 and len(dims) >= 2:
                if d == 0 or isinstance(d, str):
                    encodings.append(repr(d))
                    shape.append(BATCH)
                    continue
                fixed.add(d)
            if d == 0:
                # An axis the file leaves blank: variable, named after its tensor (and grouped).
                d = f"n_{vi.name}" if len(blank) == 1 else f"n_{vi.name}_{axis}"
                generated.add(d)
            shape.append(d)
        if len(dims) < 2:
            fixed.add(1)  # a rank-0/1 input is one event: the file runs only at batch 1
        raw.append((vi.name, shape, dtype))
    rename, aliases = _group_axes(model, raw, generated)
    inputs = [
        TensorSpec(name, tuple(rename.get(d, d) if isinstance(d, str) else d for d in shape), dtype,
                   role_of(name, dtype))
        for name, shape, dtype in raw
    ]  # fmt: skip
    if not inputs:
        raise ModelError(f"{path.name} has no inputs (every graph input has an initializer)")
    has_batch = any(t.batch_axis is not None for t in inputs)
    fixed_batch = None if has_batch else min(fixed, default=1)
    outputs = []
    for vo in model.graph.output:
        dims = _dims(vo)
        shape_o: list[Dim] = []
        for i, d in enumerate(dims):
            if i == 0 and has_batch and (d == 0 or isinstance(d, str)):
                shape_o.append(BATCH)
            elif isinstance(d, str):
                shape_o.append(rename.get(d, d))
            else:
                shape_o.append(d if d != 0 else "?")
        outputs.append(TensorSpec(vo.name, tuple(shape_o), _dtype(vo)))
    classifier = any(n.op_type == "Softmax" for n in model.graph.node)
    note = checker_note(model)
    return ModelSpec(
        name=path.name,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        fixed_batch=fixed_batch,
        batch_encodings=tuple(encodings),
        classifier=classifier,
        notes=(note,) if note else (),
        dim_aliases=tuple(aliases),
    )


def _group_axes(
    model: Any, raw: list[tuple[str, list[Dim], str]], generated: set[str]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Names for the variable axes: one per group the graph ties together (``onnx_axes``)."""
    from hepinfer.zoo.onnx_axes import invented, name_groups, tie_axes

    inputs = [(name, ["batch" if d == BATCH else d for d in shape]) for name, shape, _ in raw]
    symbols = {d for _, shape in inputs for d in shape if isinstance(d, str) and d != "batch"}
    if len(symbols) < 2 and not any(invented(s) or s in generated for s in symbols):
        return {}, []
    ties = tie_axes(model, inputs) if len(symbols) >= 2 else {s: s for s in symbols}
    return name_groups(inputs, ties, generated)
