"""Catalogue entry of weaver's ParticleTransformer (definition in ``zoo/particle_transformer.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import l1_inputs
from hepinfer.zoo.catalog.base import ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec


def _part_spec(params: Mapping[str, Any]) -> ModelSpec:
    f, classes = int(params["features"]), int(params["classes"])
    return make_spec(
        "particle_transformer",
        [
            ("pf_features", (BATCH, f, "n_pf")),
            ("pf_vectors", (BATCH, 4, "n_pf")),
            ("pf_mask", (BATCH, 1, "n_pf")),
        ],
        [("softmax", (BATCH, classes))],
        {"n_pf": 128},
        classifier=True,
    )


def _check_part(params: Mapping[str, Any]) -> None:
    for key in ("features", "classes"):
        if params[key] < 1:
            raise ConfigurationError(f"particle_transformer {key}={params[key]}: must be 1 or more")


def _part_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    return l1_inputs.particle_transformer(rng, batch, dims["n_pf"], int(params["features"]))


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="particle_transformer",
        family="taggers",
        module="particle_transformer",
        summary="weaver's ParticleTransformer (for inference): 8 particle- + 2 class-attention "
        "blocks, pair features from four-vectors; legacy export NaN on padding",
        spec=_part_spec,
        defaults={"features": 17, "classes": 10},
        target_params=2_143_486,
        check=_check_part,
        param_inputs=_part_inputs,
    ),
]
