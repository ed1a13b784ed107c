"""A Triton model repository for a hepinfer model: ``config.pbtxt`` and a Python-backend model.

The model directory holds ``config.pbtxt`` (inputs and outputs from the ModelSpec, maximum
batch size, optional dynamic batching, instance count) and ``1/model.py`` with
``1/hepinfer.json``: which model, which hepinfer backend and options, and where this hepinfer
is, so that the server runs the same code as the client that wrote the repository.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hepinfer
from hepinfer.errors import ConfigurationError
from hepinfer.zoo import ModelRef, ModelSpec, TensorSpec

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

    @property
    def served_name(self) -> str:
        """The model's name on the server."""
        return self.name or model_name(self.ref)

    def batch_size_limit(self) -> int:
        """Triton's max_batch_size: 0 unless every tensor's first axis is the batch axis."""
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
        (where / "1").mkdir(parents=True)
        (where / "config.pbtxt").write_text(config_text(model))
        shutil.copyfile(template, where / "1" / "model.py")
        (where / "1" / "hepinfer.json").write_text(json.dumps(job_of(model), indent=1))
    return root


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
    if "onnx" in cls.formats and not ("torch" in cls.formats and "torch" in artifact.formats):
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
