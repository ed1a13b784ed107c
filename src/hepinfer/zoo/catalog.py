"""The zoo's entries: names, options, specs and input builders, without importing torch.

The PyTorch definitions live in one module per model family (``rootbench``, ``vae``), each
with a ``build(name, params)`` function; the catalog names the module so that only a worker
that runs the model imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import events
from hepinfer.zoo.inputs import InputBuilder, generic_inputs
from hepinfer.zoo.spec import BATCH, ModelRef, ModelSpec, TensorSpec


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

    def build(self, params: Mapping[str, Any]) -> Any:
        """The PyTorch module (imports torch). Weights are seeded: the same every time."""
        module = importlib.import_module(f"hepinfer.zoo.{self.module}")
        return module.build(self.name, dict(params))


def _mlp_spec(name: str, n_in: int, n_out: int) -> Callable[[Mapping[str, Any]], ModelSpec]:
    def spec(params: Mapping[str, Any]) -> ModelSpec:
        return ModelSpec(
            name=name,
            inputs=(TensorSpec("input", (BATCH, n_in)),),
            outputs=(TensorSpec("output", (BATCH, n_out)),),
        )

    return spec


def _event_vae_spec(params: Mapping[str, Any]) -> ModelSpec:
    rows = int(params["R"])
    return ModelSpec(
        name="event_vae",
        inputs=(TensorSpec("objects", (BATCH, 1, rows, 4)), TensorSpec("met", (BATCH, 1))),
        outputs=(
            TensorSpec("reconstruction", (BATCH, 1, rows, 4)),
            TensorSpec("z_mean", (BATCH, 15)),
            TensorSpec("z_log_var", (BATCH, 15)),
        ),
    )


def _check_event_vae(params: Mapping[str, Any]) -> None:
    if params["R"] < 13:
        raise ConfigurationError(
            f"event_vae R={params['R']}: the encoder's convolutions need R >= 13 rows "
            "(32 reproduces the quoted export, 39 the presentation's layout)"
        )


def _higgs_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return {"input": events.higgs_features(rng, batch)}


def _event_vae_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    rows = spec.inputs[0].shape[2]
    assert isinstance(rows, int)
    objects, met = events.event_objects(rng, batch, rows)
    return {"objects": objects, "met": met}


ENTRIES: dict[str, ZooEntry] = {
    e.name: e
    for e in [
        ZooEntry(
            name="linear_event",
            family="rootbench",
            summary="rootbench dense MLP: Linear 100->50, 8 x (50->50), 50->10, ReLU",
            module="rootbench",
            spec=_mlp_spec("linear_event", 100, 10),
            target_params=25_960,
        ),
        ZooEntry(
            name="higgs_model_dense",
            family="rootbench",
            summary="rootbench Keras Higgs MLP: 7->100, 4 x (100->100) ReLU, 100->2 sigmoid",
            module="rootbench",
            spec=_mlp_spec("higgs_model_dense", 7, 2),
            target_params=41_402,
            inputs=_higgs_inputs,
            origin="keras",
        ),
        ZooEntry(
            name="event_vae",
            family="vae",
            summary="DarkMachines event-level conv VAE: objects [B,1,R,4] + MET -> recon, z",
            module="vae",
            spec=_event_vae_spec,
            defaults={"R": 32},
            target_params=15_966,
            inputs=_event_vae_inputs,
            check=_check_event_vae,
        ),
    ]
}


def entry(name: str) -> ZooEntry:
    """The zoo entry of that name, or an error listing the known names."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown model '{name}': not a zoo name ({', '.join(sorted(ENTRIES))}) "
            "nor an existing .onnx file"
        ) from None


def zoo_ref(name: str, params: Mapping[str, Any]) -> ModelRef:
    """A reference to a zoo model with checked options."""
    checked = entry(name).params(params)
    return ModelRef(kind="zoo", name=name, params=tuple(sorted(checked.items())))
