"""What is run: ModelSpec, the built-in zoo, ONNX files users bring, and input builders.

Importing this package (or ``hepinfer.zoo.spec``, which a worker's job needs) loads the spec
types only: the catalog of entries (every family's module, the input builders and numpy's
random generators, ~100 modules and 11 MB) is imported when a name from it is first used.
A measured worker opens what the parent staged and never uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepinfer.errors import ConfigurationError
from hepinfer.zoo.spec import BATCH, ModelRef, ModelSpec, TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from hepinfer.zoo.catalog import ENTRIES, ZooEntry, entry, zoo_ref  # noqa: F401

_FROM_CATALOG = frozenset({"ENTRIES", "ZooEntry", "entry", "zoo_ref"})


def __getattr__(name: str) -> Any:
    """The catalog's names, imported when first used (then held here like any other)."""
    if name in _FROM_CATALOG:
        from hepinfer.zoo import catalog

        value = getattr(catalog, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hepinfer.zoo' has no attribute {name!r}")


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


def model_ref(
    name_or_path: str,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    like: str | None = None,
) -> ModelRef:
    """A zoo name or the path of a model file, as a reference a worker can rebuild.

    A Triton repository's model folder (or its config.pbtxt) is a model too. Files: ONNX,
    TorchScript (.pt), Keras (.keras, .h5), a SavedModel directory, a frozen GraphDef (.pb), an
    MXNet checkpoint (PREFIX-symbol.json or PREFIX). ``inputs``
    (``--input NAME=SHAPE``) and ``like`` (``--like FILE.onnx``) give the shapes a file lacks.
    """
    from hepinfer.zoo.catalog import ENTRIES, zoo_ref
    from hepinfer.zoo.native_file import file_ref, kind_of, mxnet_prefix

    params = dict(params or {})
    if name_or_path in ENTRIES:
        if inputs or like:
            raise ConfigurationError("--input and --like apply to model files; a zoo model has its spec")
        return zoo_ref(name_or_path, params)
    path = Path(name_or_path)
    if path.name == "config.pbtxt":
        path = path.parent
    if (path / "config.pbtxt").is_file():
        if params or inputs or like:
            raise ConfigurationError(
                "--param, --input and --like do not apply to a repository model: "
                "its config.pbtxt holds its spec"
            )
        return ModelRef(kind="triton", name=str(path.resolve()))
    if path.exists() or "/" in name_or_path or kind_of(path) is not None or mxnet_prefix(path):
        if params:
            raise ConfigurationError("--param applies to zoo models only; a model file has no options")
        if kind_of(path) == "onnx" or (path.suffix == ".onnx" and not path.exists()):
            if inputs or like:
                raise ConfigurationError("--input and --like are for files that store no shapes, not ONNX")
            return ModelRef(kind="onnx", name=str(path.resolve()))
        if not path.exists() and mxnet_prefix(path) is None:
            from hepinfer.zoo.onnx_file import load_onnx

            load_onnx(path)  # raises: no such model file or zoo name
        return file_ref(path, dict(inputs or {}), like)
    return zoo_ref(name_or_path, params)  # raises, listing the zoo names


def spec_of(ref: ModelRef) -> ModelSpec:
    """The ModelSpec of a zoo entry, ONNX file or repository model (reads and checks it)."""
    if ref.kind == "zoo":
        from hepinfer.zoo.catalog import entry

        return entry(ref.name).spec(dict(ref.params))
    if ref.kind == "triton":
        from hepinfer.zoo.triton_config import spec_of_folder

        return spec_of_folder(Path(ref.name))
    if ref.kind != "onnx":
        from hepinfer.zoo.native_file import spec_of_file

        return spec_of_file(ref)
    from hepinfer.zoo.onnx_file import spec_from_onnx

    return spec_from_onnx(Path(ref.name))


def build_inputs(
    ref: ModelRef, spec: ModelSpec, batch: int, dims: Mapping[str, int], seed: int
) -> dict[str, np.ndarray]:
    """Seeded inputs for one call at a batch size: identical in every process for a seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if ref.kind == "zoo":
        from hepinfer.zoo.catalog import entry

        return entry(ref.name).make_inputs(spec, batch, dims, rng, dict(ref.params))
    from hepinfer.zoo.inputs import generic_inputs

    return generic_inputs(spec, batch, dims, rng)
