"""A zoo entry (``ZooEntry``) and the helpers the family catalogues describe their models with."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders
from hepinfer.zoo.inputs import InputBuilder, generic_inputs
from hepinfer.zoo.spec import ModelSpec, TensorSpec

ParamInputBuilder = Callable[
    [ModelSpec, int, Mapping[str, int], np.random.Generator, Mapping[str, Any]],
    dict[str, np.ndarray],
]

# (name, shape) of one tensor, the short form the catalogues write specs in.
TensorPair = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class ZooEntry:
    """One built-in model: how to describe it, build it and feed it."""

    name: str
    family: str
    summary: str
    # Module under hepinfer.zoo holding the PyTorch definition and build(name, params).
    module: str
    spec: Callable[[Mapping[str, Any]], ModelSpec]
    # Options a user may set with --param, and their defaults.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Trainable parameters the spec asks for, at the default options.
    target_params: int | None = None
    inputs: InputBuilder = generic_inputs
    origin: Literal["pytorch", "keras"] = "pytorch"
    check: Callable[[Mapping[str, Any]], None] | None = None
    # What target_params counts: "trainable" parameters, or "stored" (trainable plus
    # batch-norm statistics and constant buffers: the initializers of an unfused ONNX export).
    target_kind: Literal["trainable", "stored"] = "trainable"
    # Builder that also needs the model's options (gnn_tau, deepdoublex); else ``inputs``.
    param_inputs: ParamInputBuilder | None = None

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults overlaid with the user's options, each checked."""
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            allowed = ", ".join(f"{k} (default {v})" for k, v in self.defaults.items()) or "none"
            raise ConfigurationError(
                f"--param {unknown[0]}: zoo model {self.name} has no such option (options: {allowed})"
            )
        out = dict(self.defaults)
        for key, value in given.items():
            kind = type(self.defaults[key])
            try:
                out[key] = kind(value)
            except (TypeError, ValueError) as err:
                raise ConfigurationError(
                    f"--param {key}={value}: {self.name} expects a {kind.__name__}"
                ) from err
        if self.check is not None:
            self.check(out)
        return out

    def make_inputs(
        self, spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
        params: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """Seeded inputs for one call (the options complete the defaults)."""
        if self.param_inputs is not None:
            return self.param_inputs(spec, batch, dims, rng, {**self.defaults, **params})
        return self.inputs(spec, batch, dims, rng)

    def build(self, params: Mapping[str, Any]) -> Any:
        """The PyTorch module (imports torch). Weights are seeded: the same every time."""
        require("torch", f"building the zoo model {self.name} (its definition is PyTorch)")
        module = importlib.import_module(f"hepinfer.zoo.{self.module}")
        return module.build(self.name, dict(params))

    def count_parameters(self, params: Mapping[str, Any] | None = None) -> int:
        """Trainable parameters of the PyTorch model at ``params`` over the defaults (builds it)."""
        module = self.build(self.params(params or {}))
        return sum(p.numel() for p in module.parameters() if p.requires_grad)


def make_spec(
    name: str,
    inputs: Sequence[TensorPair | TensorSpec],
    outputs: Sequence[TensorPair],
    dims: Mapping[str, int] | None = None,
    classifier: bool = False,
) -> ModelSpec:
    """A ModelSpec from (name, shape) pairs; masks are recognised by name."""
    ins = tuple(
        t if isinstance(t, TensorSpec)
        else TensorSpec(t[0], t[1], role="mask" if "mask" in t[0] else "features")
        for t in inputs
    )  # fmt: skip
    outs = tuple(TensorSpec(n, s) for n, s in outputs)
    return ModelSpec(name, ins, outs, tuple(sorted((dims or {}).items())), classifier=classifier)


def fixed_spec(
    name: str,
    inputs: list[TensorPair],
    outputs: list[TensorPair],
    classifier: bool = False,
) -> Callable[[Mapping[str, Any]], ModelSpec]:  # fmt: skip
    """Spec function of a model without options."""
    return lambda params: make_spec(name, inputs, outputs, classifier=classifier)


def batch_builder(make: Callable[[np.random.Generator, int], dict[str, np.ndarray]]) -> InputBuilder:
    """An input builder from one that needs only the generator and the batch size."""
    return lambda spec, batch, dims, rng: make(rng, batch)


def image_builder(channels: int, shape: tuple[int, ...], hits: float) -> InputBuilder:
    """Sparse detector images [B,channels,*shape], ``hits`` deposits around the centre on average."""

    def make(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        return {"input": builders.detector_image(rng, batch, channels, shape, hits)}

    return batch_builder(make)
