"""What is run: the description of a model's inputs and outputs, and where the model comes from.

A ModelSpec is the same whether it came from a zoo entry or from a user's ONNX file: named
tensors whose axes are either fixed sizes or symbols. The symbol ``BATCH`` marks the batch
axis; every other symbol (``n_pf``, ``n_sv``) is a dynamic axis whose size the user gives
(``--dim n_pf=100``) unless the spec carries a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hepinfer.errors import ConfigurationError

BATCH = "batch"

Dim = int | str
Role = Literal["features", "mask", "index"]


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor: its axes (sizes or symbols), dtype and role."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"
    # "mask" inputs get realistic 0/1 padding, real entries first, instead of noise.
    role: Role = "features"

    @property
    def batch_axis(self) -> int | None:
        """Index of the batch axis, or None for a tensor without one."""
        return self.shape.index(BATCH) if BATCH in self.shape else None

    def symbols(self) -> list[str]:
        """The dynamic axes other than the batch, in order."""
        return [d for d in self.shape if isinstance(d, str) and d != BATCH]

    def concrete(self, batch: int, dims: Mapping[str, int]) -> tuple[int, ...]:
        """The shape with the batch and every dynamic axis filled in."""
        out = []
        for d in self.shape:
            if d == BATCH:
                out.append(batch)
            elif isinstance(d, str):
                out.append(dims[d])
            else:
                out.append(d)
        return tuple(out)

    def describe(self) -> str:
        """Shape as a user reads it: ``pf_points[batch, 2, n_pf] float32``."""
        return f"{self.name}[{', '.join(str(d) for d in self.shape)}] {self.dtype}"


Kind = Literal["zoo", "onnx", "triton", "torchscript", "keras", "savedmodel", "graphdef", "mxnet"]
# The model files users bring besides ONNX, and the backend that runs each natively.
NATIVE_BACKEND: dict[str, str] = {
    "torchscript": "pytorch",
    "keras": "tensorflow",
    "savedmodel": "tensorflow",
    "graphdef": "tensorflow",
    "mxnet": "mxnet",
}


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from, in a form that travels to a worker process as JSON.

    ``name`` is a zoo name, the absolute path of a model file (for MXNet the checkpoint's
    prefix, ``PREFIX-symbol.json`` + ``PREFIX-0000.params``) or of a Triton repository's
    model folder. ``inputs`` are input shapes the
    user gave (``--input NAME=SHAPE``) and ``like`` an ONNX twin whose inputs and outputs the
    model has (``--like FILE.onnx``): how a file that stores no shapes gets a spec.
    """

    kind: Kind
    name: str
    params: tuple[tuple[str, Any], ...] = ()
    inputs: tuple[tuple[str, tuple[Dim, ...]], ...] = ()
    like: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "params": dict(self.params)}
        if self.inputs:
            out["inputs"] = {k: list(v) for k, v in self.inputs}
        if self.like:
            out["like"] = self.like
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRef:
        """Inverse of to_dict."""
        return cls(
            kind=data["kind"],
            name=data["name"],
            params=tuple(sorted(data["params"].items())),
            inputs=tuple((k, tuple(v)) for k, v in (data.get("inputs") or {}).items()),
            like=data.get("like"),
        )

    @property
    def native_backend(self) -> str | None:
        """The backend that runs this file in its own framework (None: zoo or ONNX)."""
        return NATIVE_BACKEND.get(self.kind)

    @property
    def label(self) -> str:
        """Short name for tables: the zoo name with its options, or the file name."""
        if self.kind != "zoo":
            return self.name.rsplit("/", 1)[-1]
        opts = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}[{opts}]" if opts else self.name

    @property
    def safe_name(self) -> str:
        """The zoo name, the ONNX file's stem, or the repository model's folder name, as a
        directory or served-model name.

        Characters outside ``[A-Za-z0-9_.-]`` become ``_`` (Triton's default model name).
        """
        if self.kind == "triton":
            return Path(self.name).name  # the name the model has on a server
        base = self.name if self.kind == "zoo" else Path(self.name.rstrip("/")).stem
        return re.sub(r"[^A-Za-z0-9_.-]", "_", base) or "model"


@dataclass(frozen=True)
class ModelSpec:
    """The inputs and outputs of a model, with defaults for its dynamic axes."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # Sizes used for dynamic axes the user does not set (zoo entries give production values).
    default_dims: tuple[tuple[str, int], ...] = ()
    # A model exported with its batch size fixed inside (rootbench's B1 files) runs only at that.
    fixed_batch: int | None = None
    # How the file wrote its batch axis (0, '1', 'N', 'unk__123'), for the record.
    batch_encodings: tuple[str, ...] = field(default=())
    # True when the first output is a vector of class probabilities (argmax is meaningful).
    classifier: bool = False
    # What a reader of the results should know about the model file (checker objections).
    notes: tuple[str, ...] = ()
    # Other names a dynamic axis answers to in --dim: (alias, symbol). An ONNX file whose
    # axes the graph ties together (a feature and a four-vector tensor of the same particles)
    # has one symbol per group; each tensor's own axis name stays an alias of it.
    dim_aliases: tuple[tuple[str, str], ...] = ()

    def symbols(self) -> list[str]:
        """Every dynamic axis other than the batch, in first-seen order."""
        seen: dict[str, None] = {}
        for t in self.inputs:
            for s in t.symbols():
                seen.setdefault(s)
        return list(seen)

    def axis_groups(self) -> list[dict[str, Any]]:
        """Each dynamic axis (a group of tied axes): its name, the tensor axes it sizes
        (``input_1[2]``), the other names --dim takes for it, and its default size."""
        defaults = dict(self.default_dims)
        return [
            {
                "name": sym,
                "axes": [f"{t.name}[{a}]" for t in self.inputs for a, d in enumerate(t.shape) if d == sym],
                "aliases": [a for a, s in self.dim_aliases if s == sym],
                "default": defaults.get(sym),
            }
            for sym in self.symbols()
        ]

    @property
    def has_batch_axis(self) -> bool:
        """Whether any input has a batch axis that can take any size."""
        return any(t.batch_axis is not None for t in self.inputs)

    def default_batch(self) -> int:
        """The batch size used when the user does not choose: the fixed one, else 1."""
        return self.fixed_batch or 1

    def given_dims(self, given: Mapping[str, int]) -> dict[str, int]:
        """The user's sizes by symbol: an alias (a tensor's own name for an axis of a group)
        sets its group's symbol; an unknown name, or two names of one group with different
        sizes, are refused."""
        aliases = dict(self.dim_aliases)
        unknown = sorted(set(given) - set(self.symbols()) - set(aliases))
        if unknown:
            known = ", ".join(self.symbols()) or "none"
            raise ConfigurationError(
                f"--dim {unknown[0]}: model {self.name} has no dynamic axis of that name "
                f"(its dynamic axes: {known})"
            )
        dims: dict[str, int] = {}
        named: dict[str, str] = {}
        for name, size in given.items():
            sym = aliases.get(name, name)
            if sym in named and dims[sym] != size:
                raise ConfigurationError(
                    f"--dim {named[sym]}={dims[sym]} and --dim {name}={size} size the same axis "
                    f"(the graph ties them: '{sym}'); give one --dim {sym}=N"
                )
            named[sym] = name
            dims[sym] = size
        return dims

    def resolve_dims(self, given: Mapping[str, int]) -> dict[str, int]:
        """Sizes for every dynamic axis: the user's (``given_dims``), else the default, else
        a clear error."""
        dims = dict(self.default_dims)
        dims.update(self.given_dims(given))
        for sym in self.symbols():
            if sym not in dims:
                users = ", ".join(t.describe() for t in self.inputs if sym in t.symbols())
                raise ConfigurationError(
                    f"dynamic axis '{sym}' of model {self.name} has no size ({users}); "
                    f"set it with --dim {sym}=N"
                )
            if dims[sym] < 1:
                raise ConfigurationError(f"--dim {sym}={dims[sym]}: sizes must be 1 or more")
        return {s: dims[s] for s in self.symbols()}

    def check_batch(self, batch: int) -> None:
        """Refuse a batch size the model cannot take, saying which it can."""
        if batch < 1:
            raise ConfigurationError(f"batch size {batch} is not allowed: use 1 or more")
        if self.fixed_batch is not None and batch != self.fixed_batch:
            where = ", ".join(t.describe() for t in self.inputs)
            raise ConfigurationError(
                f"model {self.name} has its batch size fixed to {self.fixed_batch} inside the "
                f"file ({where}); use --batch {self.fixed_batch}"
            )

    def shapes(self, batch: int, dims: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
        """Concrete input shapes at a batch size."""
        return {t.name: t.concrete(batch, dims) for t in self.inputs}


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """JSON form of a ModelSpec, so that a worker receives it instead of parsing the model."""

    def tensor(t: TensorSpec) -> dict[str, Any]:
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "role": t.role}

    return {
        "name": spec.name,
        "inputs": [tensor(t) for t in spec.inputs],
        "outputs": [tensor(t) for t in spec.outputs],
        "default_dims": [list(d) for d in spec.default_dims],
        "fixed_batch": spec.fixed_batch,
        "batch_encodings": list(spec.batch_encodings),
        "classifier": spec.classifier,
        "notes": list(spec.notes),
        "dim_aliases": [list(a) for a in spec.dim_aliases],
    }


def spec_from_dict(data: Mapping[str, Any]) -> ModelSpec:
    """Inverse of spec_to_dict."""

    def tensor(t: Mapping[str, Any]) -> TensorSpec:
        return TensorSpec(name=t["name"], shape=tuple(t["shape"]), dtype=t["dtype"], role=t["role"])

    return ModelSpec(
        name=data["name"],
        inputs=tuple(tensor(t) for t in data["inputs"]),
        outputs=tuple(tensor(t) for t in data["outputs"]),
        default_dims=tuple((str(k), int(v)) for k, v in data["default_dims"]),
        fixed_batch=data["fixed_batch"],
        batch_encodings=tuple(data["batch_encodings"]),
        classifier=bool(data["classifier"]),
        notes=tuple(data["notes"]),
        dim_aliases=tuple((str(a), str(s)) for a, s in data.get("dim_aliases", [])),
    )
