"""A model of a Triton model repository, laid out as CMS ships it, and its ModelSpec.

One folder per model: ``config.pbtxt`` and a numbered version folder holding ``model.onnx``
(platform ``onnxruntime_onnx``) or ``model.pt`` (platform ``pytorch_libtorch``, a TorchScript
export whose inputs are named ``NAME__0``, ``NAME__1``, ... in the order ``forward`` takes
them, outputs likewise in the order it returns them). ``config.pbtxt`` is read with the
protobuf text format into the ``ModelConfig`` message tritonclient ships.

The spec comes from the config: names, dtypes, ``dims`` (-1: a variable axis) and
``max_batch_size`` (above 0: Triton adds the batch axis in front of every tensor). A variable
axis of an ONNX model takes the name the ONNX file gives it (grouped as ``spec_from_onnx``
groups them); one of a TorchScript model is named after its tensor (``n_INPUT__0``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer._optional import require
from hepinfer.errors import ModelError, first_line
from hepinfer.zoo.spec import BATCH, Dim, ModelSpec, TensorSpec

# platform -> (the format hepinfer runs, the default file name in a version folder).
PLATFORMS = {"onnxruntime_onnx": ("onnx", "model.onnx"), "pytorch_libtorch": ("torchscript", "model.pt")}
# The ``backend:`` field some configs give instead of ``platform:``.
BACKEND_PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "pytorch": "pytorch_libtorch"}
# Triton data type -> numpy dtype name.
DTYPES = {
    "TYPE_BOOL": "bool",
    "TYPE_UINT8": "uint8",
    "TYPE_UINT16": "uint16",
    "TYPE_UINT32": "uint32",
    "TYPE_UINT64": "uint64",
    "TYPE_INT8": "int8",
    "TYPE_INT16": "int16",
    "TYPE_INT32": "int32",
    "TYPE_INT64": "int64",
    "TYPE_FP16": "float16",
    "TYPE_FP32": "float32",
    "TYPE_FP64": "float64",
}
_INDEXED = re.compile(r"^(.*)__(\d+)$")


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` is one model of a Triton repository (a folder with config.pbtxt)."""
    return path.is_dir() and (path / "config.pbtxt").is_file()


def model_config_module() -> Any:
    """tritonclient's model-config messages (``model_config_pb2``)."""
    return require("tritonclient.grpc.model_config_pb2", "reading a Triton config.pbtxt")


def type_name(data_type: int) -> str:
    """``TYPE_FP32`` for a DataType value."""
    return str(model_config_module().DataType.Name(data_type))


def read_config(folder: Path) -> Any:
    """The folder's config.pbtxt as a ModelConfig message (one-line ModelError if unreadable)."""
    from google.protobuf import text_format

    path = folder / "config.pbtxt"
    try:
        config = text_format.Parse(path.read_text(), model_config_module().ModelConfig())
    except (text_format.ParseError, UnicodeDecodeError, OSError) as err:
        raise ModelError(f"{path}: not a Triton model configuration ({first_line(err)})") from err
    if not config.name:
        config.name = folder.name  # Triton takes the folder's name when the config has none
    return config


@dataclass(frozen=True)
class RepositoryModel:
    """One model folder of a repository: its config, the version served and its file."""

    folder: Path
    config: Any
    platform: str
    # "onnx" or "torchscript".
    format: str
    version: int
    file: Path

    @property
    def name(self) -> str:
        """The model's name on a server: the folder's (Triton requires name == folder)."""
        return self.folder.name

    def dtype(self, tensor: Any) -> str:
        """numpy dtype of a config input or output."""
        return DTYPES[type_name(tensor.data_type)]


def platform_of(config: Any) -> str:
    """The config's platform, from ``platform:`` or the equivalent ``backend:``."""
    return str(
        config.platform
        or BACKEND_PLATFORMS.get(config.backend, config.backend and f"backend {config.backend}")
    )


def repository_model(folder: Path) -> RepositoryModel:
    """The model in ``folder`` with its latest version (Triton's default policy), checked."""
    config = read_config(folder)
    platform = platform_of(config)
    if platform not in PLATFORMS:
        known = ", ".join(PLATFORMS)
        raise ModelError(
            f"model {folder.name}: platform {platform or '(none)'} is not served by hepinfer "
            f"(it serves {known})"
        )
    fmt, default_file = PLATFORMS[platform]
    filename = config.default_model_filename or default_file
    versions = sorted(
        int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / filename).exists()
    )
    if not versions:
        raise ModelError(
            f"model {folder.name}: no version folder holds {filename} (expected {folder}/1/{filename})"
        )
    for tensor in (*config.input, *config.output):
        name = type_name(tensor.data_type)
        if name not in DTYPES:
            raise ModelError(
                f"model {folder.name}: tensor {tensor.name} has type {name}, which hepinfer cannot feed"
            )
    return RepositoryModel(folder, config, platform, fmt, versions[-1], folder / str(versions[-1]) / filename)


def _ordered(model: RepositoryModel, tensors: Any) -> list[Any]:
    """TorchScript tensors in ``NAME__K`` index order (the positions forward takes them in)."""
    items = list(tensors)
    if model.format != "torchscript":
        return items
    indexed = [_INDEXED.match(t.name) for t in items]
    bad = [t.name for t, m in zip(items, indexed, strict=True) if m is None]
    if bad:
        raise ModelError(
            f"model {model.name}: pytorch_libtorch tensor {bad[0]} is not named NAME__K "
            "(K: its position in forward's arguments or results)"
        )
    return [
        t
        for _, t in sorted(
            zip((int(m.group(2)) for m in indexed if m), items, strict=True), key=lambda p: p[0]
        )
    ]


def spec_from_config(model: RepositoryModel) -> ModelSpec:
    """The ModelSpec the config describes (variable axes named as the module says)."""
    batched = model.config.max_batch_size > 0
    file_spec = None
    if model.format == "onnx":
        from hepinfer.zoo.onnx_file import spec_from_onnx

        file_spec = spec_from_onnx(model.file)
    file_shapes = {t.name: t.shape for t in file_spec.inputs + file_spec.outputs} if file_spec else {}

    def tensor(t: Any) -> TensorSpec:
        dims = [int(d) for d in t.dims]
        shape: list[Dim] = [BATCH] if batched else []
        named = file_shapes.get(t.name, ())
        variable = [a for a, d in enumerate(dims) if d < 0]
        for axis, d in enumerate(dims):
            full = axis + (1 if batched else 0)
            if d >= 0:
                shape.append(d)
            elif not batched and axis == 0 and len(dims) >= 2:
                shape.append(BATCH)  # whole tensors: a variable first axis is the batch
            elif full < len(named) and isinstance(named[full], str) and named[full] != BATCH:
                shape.append(named[full])
            else:
                shape.append(f"n_{t.name}" if len(variable) == 1 else f"n_{t.name}_{axis}")
        from hepinfer.zoo.onnx_file import role_of

        dtype = model.dtype(t)
        return TensorSpec(t.name, tuple(shape), dtype, role_of(t.name, dtype))

    inputs = tuple(tensor(t) for t in _ordered(model, model.config.input))
    outputs = tuple(tensor(t) for t in _ordered(model, model.config.output))
    if not inputs:
        raise ModelError(f"model {model.name}: config.pbtxt lists no inputs")
    has_batch = any(t.batch_axis is not None for t in inputs)
    fixed = None
    if not has_batch:
        firsts = [t.shape[0] for t in inputs if len(t.shape) >= 2 and isinstance(t.shape[0], int)]
        fixed = min(firsts, default=1)
    labelled = any(o.label_filename for o in model.config.output)
    aliases = file_spec.dim_aliases if file_spec else ()
    symbols = {s for t in inputs for s in t.symbols()}
    return ModelSpec(
        name=model.name,
        inputs=inputs,
        outputs=outputs,
        fixed_batch=fixed,
        classifier=labelled or bool(file_spec and file_spec.classifier),
        notes=file_spec.notes if file_spec else (),
        dim_aliases=tuple((a, g) for a, g in aliases if g in symbols),
    )


def spec_of_folder(folder: Path) -> ModelSpec:
    """The ModelSpec of a repository's model folder."""
    return spec_from_config(repository_model(folder))
