"""Model files in their own framework's format: which format a path is, and its ModelSpec.

TorchScript archives, Keras files, SavedModel directories, TF1 frozen GraphDefs and MXNet
checkpoints. Telling the format from the path imports nothing; reading the spec imports the
framework (in the parent, which converts anyway). Files that store no input shapes (TorchScript,
GraphDef, MXNet) take them from ``--input NAME=SHAPE`` or from an ONNX twin (``--like``).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError, ModelError, first_line
from hepinfer.zoo.spec import BATCH, Dim, ModelRef, ModelSpec, TensorSpec

# How a user may write the batch axis in --input NAME=SHAPE.
_BATCH_WORDS = frozenset({"b", "n", "batch", "-1", "?", "none"})
# Keras's learning-phase placeholder in TF1 graphs: fed False (inference), never an input.
LEARNING_PHASE = "keras_learning_phase"


def parse_shape(name: str, text: str) -> tuple[Dim, ...]:
    """``B,42,100,1`` -> (batch, 42, 100, 1); other words are dynamic axes (``n_pf``)."""
    out: list[Dim] = []
    for axis, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            raise ConfigurationError(f"--input {name}={text}: empty axis; write e.g. {name}=B,42,100,1")
        if part.lower() in _BATCH_WORDS:
            if axis != 0:
                raise ConfigurationError(f"--input {name}={text}: the batch axis (B) must come first")
            out.append(BATCH)
        elif part.isdigit():
            out.append(int(part))
        elif part.isidentifier():
            out.append(part)
        else:
            raise ConfigurationError(f"--input {name}={text}: axis '{part}' is not a size, B or a name")
    return tuple(out)


def mxnet_prefix(path: Path) -> Path | None:
    """The checkpoint prefix of ``PREFIX-symbol.json``, ``PREFIX-0000.params`` or ``PREFIX``."""
    text = str(path)
    if text.endswith("-symbol.json"):
        return Path(text[: -len("-symbol.json")])
    if path.suffix == ".params" and "-" in path.name:
        return Path(text.rsplit("-", 1)[0])
    if Path(text + "-symbol.json").exists():
        return path
    return None


def kind_of(path: Path) -> str | None:
    """The format of a model path, from its name and layout (nothing imported); None: not one."""
    if path.is_dir():
        return "savedmodel" if (path / "saved_model.pb").exists() else None
    if path.name == "saved_model.pb":
        return "savedmodel"
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in (".pt", ".pth", ".torchscript", ".ts"):
        return "torchscript"
    if suffix in (".keras", ".h5", ".hdf5"):
        return "keras"
    if suffix == ".pb":
        return "graphdef"
    if mxnet_prefix(path) is not None:
        return "mxnet"
    return None


def file_ref(path: Path, inputs: dict[str, str], like: str | None) -> ModelRef:
    """A reference to a model file, its format checked from the path and ``like`` resolved."""
    kind = kind_of(path)
    if kind is None and path.is_dir():
        raise ModelError(
            f"{path} is a directory but not a SavedModel (no saved_model.pb) nor a Triton "
            "repository model (no config.pbtxt); give a model file or such a directory"
        )
    if kind is None:
        raise ModelError(
            f"{path}: not a model file hepinfer reads (.onnx, TorchScript .pt, .keras/.h5, a "
            "SavedModel directory, a frozen GraphDef .pb, an MXNet PREFIX-symbol.json)"
        )
    name = path.resolve()
    if kind == "savedmodel" and name.name == "saved_model.pb":
        name = name.parent
    if kind == "mxnet":
        prefix = mxnet_prefix(name)
        assert prefix is not None
        symbol = Path(f"{prefix}-symbol.json")
        if not symbol.exists():
            raise ModelError(
                f"{path}: an MXNet checkpoint needs its symbol file {symbol.name} beside the "
                "parameters; copy it there (or give the PREFIX-symbol.json)"
            )
        if not sorted(prefix.parent.glob(f"{prefix.name}-[0-9][0-9][0-9][0-9].params")):
            raise ModelError(f"{path}: no parameters {prefix.name}-NNNN.params beside {symbol.name}")
        name = prefix
    if like is not None and not Path(like).exists():
        raise ConfigurationError(f"--like {like}: no such ONNX file")
    shapes = tuple((k, parse_shape(k, v)) for k, v in sorted(inputs.items()))
    return ModelRef(
        kind=kind,  # type: ignore[arg-type]
        name=str(name),
        inputs=shapes,
        like=str(Path(like).resolve()) if like else None,
    )


def spec_of_file(ref: ModelRef) -> ModelSpec:
    """The spec of a non-ONNX model file (imports its framework)."""
    reader = {
        "torchscript": _torchscript,
        "keras": _keras,
        "savedmodel": _savedmodel,
        "graphdef": _graphdef,
        "mxnet": _mxnet,
    }[ref.kind]
    return reader(ref)


def _twin(ref: ModelRef) -> ModelSpec | None:
    if ref.like is None:
        return None
    from hepinfer.zoo.onnx_file import spec_from_onnx

    return spec_from_onnx(Path(ref.like))


def _inputs(ref: ModelRef, names: Sequence[str], stored: dict[str, tuple[Dim, ...]]) -> list[TensorSpec]:
    """Each input's shape: --input, else the twin's (by name, else by position), else the file's."""
    given = dict(ref.inputs)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ConfigurationError(
            f"--input {unknown[0]}: {Path(ref.name).name} has no input of that name "
            f"(its inputs: {', '.join(names)})"
        )
    twin = _twin(ref)
    by_name = {t.name: t for t in twin.inputs} if twin else {}
    by_pos = list(twin.inputs) if twin and len(twin.inputs) == len(names) else []
    out = []
    for i, name in enumerate(names):
        if name in given:
            shape, dtype = given[name], "float32"
        elif name in by_name or by_pos:
            t = by_name.get(name) or by_pos[i]
            shape, dtype = t.shape, t.dtype
        elif name in stored:
            shape, dtype = stored[name], "float32"
        else:
            how = "--input NAME=B,D1,D2 for each input or --like FILE.onnx (an ONNX twin)"
            raise ConfigurationError(
                f"{Path(ref.name).name} does not store the shape of its input '{name}' "
                f"(inputs: {', '.join(names)}); give {how}"
            )
        role = "mask" if "mask" in name.lower() else "features"
        out.append(TensorSpec(name, tuple(shape), dtype, role))  # type: ignore[arg-type]
    return out


def _outputs(ref: ModelRef, names: Sequence[str], shapes: Sequence[tuple[Dim, ...]] = ()) -> list[TensorSpec]:
    """Outputs: the twin's names where the twin has as many (so every backend names them alike)."""
    twin = _twin(ref)
    if twin is not None and len(twin.outputs) == len(names):
        return list(twin.outputs)
    return [TensorSpec(n, shapes[i] if i < len(shapes) else (BATCH, "?")) for i, n in enumerate(names)]


def _spec(ref: ModelRef, inputs: list[TensorSpec], outputs: list[TensorSpec], classifier: bool) -> ModelSpec:
    twin = _twin(ref)
    notes = (f"input and output shapes from the ONNX twin {Path(ref.like).name}",) if ref.like else ()
    spec = ModelSpec(
        name=Path(ref.name).name,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        classifier=classifier or bool(twin and twin.classifier),
        notes=notes,
    )
    if not spec.has_batch_axis:
        spec = ModelSpec(**{**spec.__dict__, "fixed_batch": 1})
    return spec


def check_torchscript(path: Path) -> None:
    """Refuse anything but a TorchScript archive before torch sees it (never unpickle a file)."""
    if not path.is_file():
        raise ModelError(f"no such TorchScript file: {path}")
    ok = zipfile.is_zipfile(path)
    if ok:
        with zipfile.ZipFile(path) as z:
            ok = any(n.endswith("/constants.pkl") or "/code/" in n for n in z.namelist())
    if not ok:
        raise ModelError(
            f"{path.name} is not a TorchScript archive (a pickled model or a state_dict?); "
            "hepinfer loads only torch.jit.save archives: save it with "
            "torch.jit.save(torch.jit.script(model), 'model.pt') or export it to ONNX"
        )


def load_torchscript(path: Path) -> Any:
    """torch.jit.load of a checked archive, on the CPU, in eval mode."""
    import torch

    check_torchscript(path)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise ModelError(f"{path.name}: torch.jit.load failed: {first_line(err)}") from err
    return module.eval()


def _torchscript(ref: ModelRef) -> ModelSpec:
    import torch

    module = load_torchscript(Path(ref.name))
    args = module.forward.schema.arguments[1:]  # the first is self
    inputs = _inputs(ref, [a.name for a in args], {})
    twin = _twin(ref)
    if twin is not None:
        outs = list(twin.outputs)
    else:  # the archive does not say how many outputs: one call on zeros tells
        dims = {s: 2 for t in inputs for s in t.symbols()}
        with torch.inference_mode():
            raw = module(*(torch.zeros(t.concrete(2, dims)) for t in inputs))
        values = raw if isinstance(raw, (tuple, list)) else (raw,)
        outs = [TensorSpec(f"output_{i}", (BATCH, *v.shape[1:])) for i, v in enumerate(values)]
    return _spec(ref, inputs, outs, classifier=False)


def _keras_shape(shape: Sequence[Any]) -> tuple[Dim, ...]:
    return tuple(
        BATCH if i == 0 and d is None else (d if d is not None else f"d{i}") for i, d in enumerate(shape)
    )


def _keras(ref: ModelRef) -> ModelSpec:
    model = load_keras_file(Path(ref.name))
    names = [t.name.split(":")[0] for t in model.inputs]
    stored = {n: _keras_shape(t.shape) for n, t in zip(names, model.inputs, strict=True)}
    outs = [_keras_shape(t.shape) for t in model.outputs]
    out_names = [f"output_{i}" for i in range(len(outs))] if len(outs) > 1 else ["output_0"]
    if getattr(model, "output_names", None) and len(model.output_names) == len(outs):
        out_names = list(model.output_names)
    return _spec(ref, _inputs(ref, names, stored), _outputs(ref, out_names, outs), classifier=False)


def _savedmodel(ref: ModelRef) -> ModelSpec:
    signature = serving_signature(Path(ref.name))
    ins = signature.structured_input_signature[1]
    outs = signature.structured_outputs
    stored = {n: _keras_shape(s.shape.as_list()) for n, s in ins.items()}
    out_names = sorted(outs)
    shapes = [_keras_shape(outs[n].shape.as_list()) for n in out_names]
    return _spec(ref, _inputs(ref, sorted(ins), stored), _outputs(ref, out_names, shapes), classifier=False)


def _graphdef(ref: ModelRef) -> ModelSpec:
    placeholders, outputs = graph_io(Path(ref.name))
    if not ref.inputs and ref.like is None:
        raise ConfigurationError(
            f"{Path(ref.name).name} is a frozen GraphDef: its placeholders ({', '.join(placeholders)}) "
            "store no shapes; give --input NAME=B,D1,... for each, or --like FILE.onnx (its ONNX twin)"
        )
    return _spec(ref, _inputs(ref, placeholders, {}), _outputs(ref, outputs), classifier=False)


def mxnet_io(prefix: Path) -> tuple[list[str], list[str]]:
    """The data arguments (``null`` nodes that are no weight, no label) and the output names."""
    graph = json.loads(Path(f"{prefix}-symbol.json").read_text())
    nodes = graph["nodes"]
    weights = {"weight", "bias", "gamma", "beta", "moving_mean", "moving_var", "running_mean"}
    data = [
        n["name"]
        for n in nodes
        if n["op"] == "null"
        and n["name"].rsplit("_", 1)[-1] not in weights | {"label"}
        and not n["name"].endswith(("_moving_mean", "_moving_var", "_running_var"))
    ]
    heads = [nodes[h[0]]["name"] + "_output" for h in graph["heads"]]
    return data, heads


def _mxnet(ref: ModelRef) -> ModelSpec:
    data, heads = mxnet_io(Path(ref.name))
    if not ref.inputs and ref.like is None:
        raise ConfigurationError(
            f"{Path(ref.name).name}: an MXNet symbol stores no input shapes; give --input NAME=B,... "
            f"for {', '.join(data)} or --like FILE.onnx (its ONNX twin)"
        )
    given = {k for k, _ in ref.inputs}
    twin = _twin(ref)
    names = [n for n in data if n in given or (twin and n in {t.name for t in twin.inputs})] or data
    return _spec(ref, _inputs(ref, names, {}), _outputs(ref, heads), classifier=True)


def _tf() -> Any:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hepinfer._optional import require

    return require("tensorflow", "reading a TensorFlow or Keras model (pip install 'hepinfer[tensorflow]')")


def load_keras_file(path: Path) -> Any:
    """A .keras or .h5 model, loaded without compiling (inference needs no optimizer)."""
    _tf()
    import keras

    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as err:
        raise ModelError(f"{path.name}: Keras could not load it: {first_line(err)}") from err


def serving_signature(path: Path) -> Any:
    """The SavedModel's ``serving_default`` signature, or a one-line error without one."""
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as err:
        raise ModelError(f"{path.name}: not a loadable SavedModel: {first_line(err)}") from err
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        have = ", ".join(loaded.signatures) or "none"
        raise ModelError(
            f"{path.name}: the SavedModel has no serving signature 'serving_default' (its "
            f"signatures: {have}); save it with tf.saved_model.save(model, dir, signatures=...) "
            "or model.export(dir)"
        )
    signature._hepinfer_keepalive = loaded  # the signature's variables live in the loaded object
    return signature


def read_graphdef(path: Path) -> Any:
    """The GraphDef of a frozen TF1 graph (.pb), or a one-line error."""
    tf = _tf()
    graph = tf.compat.v1.GraphDef()
    try:
        graph.ParseFromString(path.read_bytes())
    except Exception as err:
        raise ModelError(f"{path.name}: not a frozen TensorFlow GraphDef: {first_line(err)}") from err
    if not graph.node:
        raise ModelError(f"{path.name}: the GraphDef holds no nodes")
    return graph


def graph_io(path: Path) -> tuple[list[str], list[str]]:
    """Placeholders (the learning phase left out) and outputs (nodes nothing consumes)."""
    graph = read_graphdef(path)
    placeholders = [
        n.name for n in graph.node if n.op == "Placeholder" and not n.name.endswith(LEARNING_PHASE)
    ]
    ops = {n.name: n.op for n in graph.node}
    consumers: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i.split(":")[0].lstrip("^"), []).append(ops[n.name])
    skip = {"Const", "NoOp", "Placeholder", "PlaceholderWithDefault", "Assert"}
    outputs = [n.name for n in graph.node if n.name not in consumers and n.op not in skip]
    # A Keras model's class probabilities may also feed a later head (DeepJet V01 concatenates
    # ID_pred/Softmax into its pT regression, which is then the only node nothing consumes):
    # a Softmax read only by a Concat is one of the model's outputs, and comes first.
    heads = [
        n.name
        for n in graph.node
        if n.op == "Softmax" and n.name in consumers and set(consumers[n.name]) <= {"ConcatV2", "Concat"}
    ]
    outputs = heads + [o for o in outputs if o not in heads]
    if not placeholders or not outputs:
        raise ModelError(f"{path.name}: found no placeholder or no output node in the GraphDef")
    return placeholders, outputs
