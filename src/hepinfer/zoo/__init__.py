"""What is run: ModelSpec, the built-in zoo, ONNX files users bring, and input builders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo.catalog import ENTRIES, ZooEntry, entry, zoo_ref
from hepinfer.zoo.inputs import generic_inputs
from hepinfer.zoo.spec import BATCH, ModelRef, ModelSpec, TensorSpec

__all__ = [
    "BATCH",
    "ENTRIES",
    "ModelRef",
    "ModelSpec",
    "TensorSpec",
    "ZooEntry",
    "build_inputs",
    "entry",
    "model_ref",
    "spec_of",
]


def model_ref(name_or_path: str, params: Mapping[str, Any] | None = None) -> ModelRef:
    """A zoo name, the path of an ONNX file or of a Triton repository's model folder (or its
    config.pbtxt), as a reference a worker can rebuild."""
    params = dict(params or {})
    if name_or_path in ENTRIES:
        return zoo_ref(name_or_path, params)
    path = Path(name_or_path)
    if path.name == "config.pbtxt":
        path = path.parent
    if (path / "config.pbtxt").is_file():
        if params:
            raise ConfigurationError("--param applies to zoo models only; a repository model has no options")
        return ModelRef(kind="triton", name=str(path.resolve()))
    if path.suffix == ".onnx" or path.exists() or "/" in name_or_path:
        if params:
            raise ConfigurationError("--param applies to zoo models only; an ONNX file has no options")
        return ModelRef(kind="onnx", name=str(path.resolve()))
    return zoo_ref(name_or_path, params)  # raises, listing the zoo names


def spec_of(ref: ModelRef) -> ModelSpec:
    """The ModelSpec of a zoo entry, ONNX file or repository model (reads and checks it)."""
    if ref.kind == "zoo":
        return entry(ref.name).spec(dict(ref.params))
    if ref.kind == "triton":
        from hepinfer.zoo.triton_config import spec_of_folder

        return spec_of_folder(Path(ref.name))
    from hepinfer.zoo.onnx_file import spec_from_onnx

    return spec_from_onnx(Path(ref.name))


def build_inputs(
    ref: ModelRef, spec: ModelSpec, batch: int, dims: Mapping[str, int], seed: int
) -> dict[str, np.ndarray]:
    """Seeded inputs for one call at a batch size: identical in every process for a seed."""
    rng = np.random.default_rng(seed)
    if ref.kind == "zoo":
        return entry(ref.name).make_inputs(spec, batch, dims, rng, dict(ref.params))
    return generic_inputs(spec, batch, dims, rng)
