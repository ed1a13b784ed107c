"""Catalogue entry of the flow-matching calorimeter model calo_flow (definition in ``zoo/calo.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders
from hepinfer.zoo.catalog.base import ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec


def _calo_spec(params: Mapping[str, Any]) -> ModelSpec:
    v = int(params["voxels"])
    return make_spec(
        "calo_flow",
        [("x_t", (BATCH, v)), ("t", (BATCH, 1)), ("energy", (BATCH, 1))],
        [("velocity", (BATCH, v))],
    )


def _check_calo(params: Mapping[str, Any]) -> None:
    for key in ("voxels", "hidden", "layers", "steps"):
        if params[key] < 1:
            raise ConfigurationError(f"calo_flow {key}={params[key]}: must be 1 or more")


def _calo_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    return builders.calo_shower(rng, batch, int(params["voxels"]))


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="calo_flow",
        family="calo",
        module="calo",
        summary="flow-matching calorimeter velocity field v(x_t, t, E), MLP; a sample = steps calls",
        spec=_calo_spec,
        defaults={"voxels": 40_500, "hidden": 256, "layers": 3, "steps": 20},
        check=_check_calo,
        param_inputs=_calo_inputs,
    ),
]
