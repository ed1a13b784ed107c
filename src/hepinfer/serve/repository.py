"""A Triton model repository for hepinfer models: ``config.pbtxt`` and a Python-backend model.

The model directory holds ``config.pbtxt`` (inputs and outputs from the ModelSpec, maximum
batch size, optional dynamic batching, instance count) and ``1/model.py`` with
``1/hepinfer.json``: which model, which hepinfer backend and options, and where this hepinfer
is, so that the server runs the same code as the client that wrote the repository.

A repository as CMS ships it (``read_repository``: ``onnxruntime_onnx`` and
``pytorch_libtorch`` models) is served the same way, each model with its own configuration:
the written ``config.pbtxt`` is the model's own with ``backend: "python"`` in place of its
platform and without the fields hepinfer cannot honour (each named in one line), so
``max_batch_size``, the tensors' ``dims``, ``dynamic_batching`` (``preferred_batch_size``
and the rest: Triton's scheduler does the batching), the ``instance_group`` count and the
outputs' ``label_filename`` (the file copied beside it) are what the server applies.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hepinfer
from hepinfer.errors import ConfigurationError, HepinferError
from hepinfer.zoo import ModelRef, ModelSpec, TensorSpec
from hepinfer.zoo.triton_config import RepositoryModel, is_model_folder, repository_model, spec_from_config

# numpy dtype name -> Triton data type.
TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "uint16": "TYPE_UINT16",
    "uint32": "TYPE_UINT32",
    "uint64": "TYPE_UINT64",
    "int8": "TYPE_INT8",
    "int16": "TYPE_INT16",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "float64": "TYPE_FP64",
}


def model_name(ref: ModelRef) -> str:
    """The name the served model gets by default: the zoo name, or the ONNX file's stem."""
    return ref.safe_name


@dataclass(frozen=True)
class ServedModel:
    """One model of a repository and how it is served."""

    ref: ModelRef
    spec: ModelSpec
    backend: str = "onnxruntime"
    options: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    exporter: str = "dynamo"
    name: str = ""
    # Largest batch Triton may form (0: the model takes whole tensors, no batching by Triton).
    max_batch: int = 64
    dynamic_batching: bool = False
    max_queue_delay_us: int = 100
    instances: int = 1
    # The repository model served with its own configuration (serve --repository), or None.
    source: RepositoryModel | None = None
    # What of that configuration is not served as given, one line each.
    notes: tuple[str, ...] = ()

    @property
    def served_name(self) -> str:
        """The model's name on the server."""
        if self.source is not None:
            return self.source.name
        return self.name or model_name(self.ref)

    @property
    def version(self) -> int:
        """The version folder the server loads."""
        return self.source.version if self.source is not None else 1

    def batch_size_limit(self) -> int:
        """Triton's max_batch_size: 0 unless every tensor's first axis is the batch axis."""
        if self.source is not None:
            return int(self.source.config.max_batch_size)
        if self.max_batch <= 0 or self.spec.fixed_batch is not None or not self.spec.has_batch_axis:
            return 0
        tensors = list(self.spec.inputs) + list(self.spec.outputs)
        return self.max_batch if all(t.batch_axis == 0 for t in tensors) else 0


def _dims(t: TensorSpec, batched: bool) -> list[int]:
    shape = t.shape[1:] if batched else t.shape
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape]


def _tensor(t: TensorSpec, batched: bool) -> str:
    if t.dtype not in TRITON_TYPES:
        raise ConfigurationError(f"tensor {t.name}: Triton has no type for dtype {t.dtype}")
    dims = ", ".join(str(d) for d in _dims(t, batched)) or ""
    return f'  {{\n    name: "{t.name}"\n    data_type: {TRITON_TYPES[t.dtype]}\n    dims: [ {dims} ]\n  }}'


def config_text(model: ServedModel) -> str:
    """The model's ``config.pbtxt``."""
    if model.source is not None:
        return _source_config_text(model.source)
    limit = model.batch_size_limit()
    batched = limit > 0
    lines = [
        f'name: "{model.served_name}"',
        'backend: "python"',
        f"max_batch_size: {limit}",
        "input [\n" + ",\n".join(_tensor(t, batched) for t in model.spec.inputs) + "\n]",
        "output [\n" + ",\n".join(_tensor(t, batched) for t in model.spec.outputs) + "\n]",
        f"instance_group [\n  {{\n    count: {model.instances}\n    kind: KIND_CPU\n  }}\n]",
    ]
    if model.dynamic_batching and batched:
        lines.append(f"dynamic_batching {{\n  max_queue_delay_microseconds: {model.max_queue_delay_us}\n}}")
    return "\n".join(lines) + "\n"


def job_of(model: ServedModel) -> dict[str, Any]:
    """What the Python-backend model needs to load the hepinfer backend (``hepinfer.json``)."""
    return {
        "model_ref": model.ref.to_dict(),
        "backend": model.backend,
        "options": dict(model.options),
        "threads": model.threads,
        "exporter": model.exporter,
        "batched": model.batch_size_limit() > 0,
        # The served model imports this hepinfer, not whatever the server's Python finds first.
        "sys_path": [str(Path(hepinfer.__file__).resolve().parents[1])],
    }


def write_repository(root: Path, models: list[ServedModel]) -> Path:
    """Write (replace) a model repository with these models; returns its path."""
    if not models:
        raise ConfigurationError("a model repository needs at least one model")
    names = [m.served_name for m in models]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"two served models share a name: {names}; give each a --name")
    root.mkdir(parents=True, exist_ok=True)
    template = Path(__file__).with_name("triton_model.py")
    for model in models:
        if model.dynamic_batching and model.batch_size_limit() == 0:
            raise ConfigurationError(
                f"model {model.served_name}: dynamic batching needs a batch axis first in every "
                "tensor and --max-batch above 0; this model has none (serve it without "
                "--dynamic-batching)"
            )
        where = root / model.served_name
        if where.exists():
            shutil.rmtree(where)
        version = where / str(model.version)
        version.mkdir(parents=True)
        (where / "config.pbtxt").write_text(config_text(model))
        shutil.copyfile(template, version / "model.py")
        (version / "hepinfer.json").write_text(json.dumps(job_of(model), indent=1))
        if model.source is not None:
            for out in model.source.config.output:
                if out.label_filename:
                    shutil.copyfile(model.source.folder / out.label_filename, where / out.label_filename)
    return root


# ---------------------------------------------------------------------------------------------
# A repository as CMS ships it

# Fields of a ModelConfig the served model honours as given (the server core applies them).
_SERVED_FIELDS = frozenset(
    {"name", "platform", "backend", "max_batch_size", "input", "output", "dynamic_batching",
     "instance_group", "default_model_filename", "version_policy"}
)  # fmt: skip
_TENSOR_FIELDS = frozenset({"name", "data_type", "dims"})


def _dropped(model: RepositoryModel) -> tuple[list[str], list[str]]:
    """(lines saying what is not served as configured, the top-level fields to leave out)."""
    config = model.config
    lines: list[str] = []
    drop: list[str] = []
    for fd, _ in config.ListFields():
        if fd.name not in _SERVED_FIELDS:
            drop.append(fd.name)
            lines.append(
                f"model {model.name}: {fd.name} is not supported by hepinfer's served model; "
                "served without it"
            )
    if config.HasField("version_policy") and config.version_policy.WhichOneof("policy_choice") != "latest":
        lines.append(
            f"model {model.name}: version_policy {config.version_policy.WhichOneof('policy_choice')} "
            f"is not supported; serving version {model.version} only (the latest)"
        )
    for kind, tensors in (("input", config.input), ("output", config.output)):
        allowed = _TENSOR_FIELDS | ({"label_filename"} if kind == "output" else {"format"})
        for t in tensors:
            for fd, _ in t.ListFields():
                if fd.name not in allowed:
                    lines.append(
                        f"model {model.name}: {kind} {t.name}: {fd.name} is not supported by hepinfer's "
                        "served model; served without it"
                    )
            if kind == "output" and t.label_filename and not (model.folder / t.label_filename).is_file():
                lines.append(
                    f"model {model.name}: output {t.name}: label file {t.label_filename} is missing; "
                    "served without it"
                )
    for group in config.instance_group:
        kind_name = type(group).Kind.Name(group.kind)
        if kind_name not in ("KIND_AUTO", "KIND_CPU"):
            lines.append(
                f"model {model.name}: instance_group {kind_name} is served as KIND_CPU "
                f"({group.count or 1} instance(s)): hepinfer's Python-backend model runs its "
                "backend on the CPU"
            )
    return lines, drop


def _source_config_text(model: RepositoryModel) -> str:
    """The model's own configuration, served by the Python backend (see the module docstring)."""
    from google.protobuf import text_format

    config = type(model.config)()
    config.CopyFrom(model.config)
    _, drop = _dropped(model)
    for name in (*drop, "platform", "default_model_filename", "version_policy"):
        config.ClearField(name)
    config.name = model.name
    config.backend = "python"
    for tensor in (*config.input, *config.output):
        for fd, _ in tensor.ListFields():
            if fd.name not in _TENSOR_FIELDS | {"label_filename", "format"}:
                tensor.ClearField(fd.name)
    for out in config.output:
        if out.label_filename and not (model.folder / out.label_filename).is_file():
            out.ClearField("label_filename")
    for group in config.instance_group:
        group.kind = type(group).Kind.Value("KIND_CPU")
        group.ClearField("gpus")
    text: str = text_format.MessageToString(config)
    return text


def read_repository(
    root: Path,
    backend: str = "onnxruntime",
    options: dict[str, str] | None = None,
    threads: int = 1,
) -> tuple[list[ServedModel], list[str]]:
    """The models of a Triton repository hepinfer can serve, and one line for each model or
    field it cannot (the rest are served). ONNX models run on ``backend`` with ``options``;
    TorchScript models on pytorch (torch.jit.load in the server's Python stub)."""
    from hepinfer.backends.registry import backend_class

    if not root.is_dir():
        raise ConfigurationError(f"--repository {root}: no such folder; give a Triton model repository")
    cls = backend_class(backend)
    if cls.name == "triton":
        raise ConfigurationError(
            "--backend triton would serve a client of itself; choose an in-process backend"
        )
    if "onnx" not in cls.formats:
        raise ConfigurationError(f"--backend {cls.name} does not read ONNX files; choose one that does")
    options = dict(options or {})
    cls.Options.from_strings(cls.name, options)
    served: list[ServedModel] = []
    lines: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not is_model_folder(folder):
            lines.append(f"{folder.name}: no config.pbtxt; skipped")
            continue
        try:
            model = repository_model(folder)
            spec = spec_from_config(model)
        except HepinferError as err:
            lines.append(f"{err}; skipped")
            continue
        notes, _ = _dropped(model)
        lines.extend(notes)
        torchscript = model.format == "torchscript"
        served.append(
            ServedModel(
                ref=ModelRef(kind="triton", name=str(folder.resolve())),
                spec=spec,
                backend="pytorch" if torchscript else cls.name,
                options={} if torchscript else options,
                threads=threads,
                source=model,
                notes=tuple(notes),
            )
        )
    if not served:
        raise ConfigurationError(
            f"--repository {root}: no model hepinfer can serve ({'; '.join(lines) or 'the folder is empty'})"
        )
    return served, lines


def prepare(
    model: str,
    backend: str = "onnxruntime",
    options: dict[str, str] | None = None,
    threads: int = 1,
    params: dict[str, Any] | None = None,
    exporter: str = "dynamo",
    name: str = "",
    max_batch: int = 64,
    dynamic_batching: bool = False,
    max_queue_delay_us: int = 100,
    instances: int = 1,
) -> ServedModel:
    """The ServedModel of ``model`` (a zoo name or an ONNX path), checked, with a zoo model
    exported to ONNX now (cached) where the backend reads ONNX, so that the server's instances
    load fast rather than each export it."""
    from hepinfer.backends.registry import backend_class
    from hepinfer.convert.artifact import ModelArtifact
    from hepinfer.zoo import model_ref, spec_of

    for flag, value in (("--instances", instances), ("--threads", threads)):
        if value < 1:
            raise ConfigurationError(f"{flag} {value}: must be 1 or more")
    if max_batch < 0 or max_queue_delay_us < 0:
        raise ConfigurationError("--max-batch and --max-queue-delay-us must be 0 or more")
    cls = backend_class(backend)
    if cls.name == "triton":
        raise ConfigurationError(
            "--backend triton would serve a client of itself; choose an in-process backend"
        )
    options = dict(options or {})
    cls.Options.from_strings(cls.name, options)  # refuse unknown options now
    ref = model_ref(model, params or {})
    spec = spec_of(ref)
    artifact = ModelArtifact(ref=ref, spec=spec, exporter=exporter)
    if artifact.needs_onnx(cls.formats):
        artifact.onnx_path()  # export (cached) here, so the server's instances load fast
    return ServedModel(
        ref=ref,
        spec=spec,
        backend=backend,
        options=options,
        threads=threads,
        exporter=exporter,
        name=name,
        max_batch=max_batch,
        dynamic_batching=dynamic_batching,
        max_queue_delay_us=max_queue_delay_us,
        instances=instances,
    )
