"""Catalogue entry of the dijet graph VAE graph_vae (definition in ``zoo/graph_vae.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import l1_inputs
from hepinfer.zoo.catalog.base import ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec


def _graph_vae_spec(params: Mapping[str, Any]) -> ModelSpec:
    return make_spec(
        "graph_vae",
        [("particles", (BATCH, "n_particles", 3)), ("mask", (BATCH, "n_particles"))],
        [
            ("reconstruction", (BATCH, "n_particles", 3)),
            ("z_mean", (BATCH, 8)),
            ("z_log_var", (BATCH, 8)),
        ],
        {"n_particles": 100},
    )


def _check_graph_vae(params: Mapping[str, Any]) -> None:
    if params["k"] < 1:
        raise ConfigurationError(f"graph_vae k={params['k']}: use k >= 1 (8 is the study's)")


def _graph_vae_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    if dims["n_particles"] < params["k"] + 1:
        raise ConfigurationError(
            f"graph_vae k={params['k']} neighbours needs at least {params['k'] + 1} particle "
            f"slots per jet (--dim n_particles={dims['n_particles']}); raise --dim n_particles "
            "or lower --param k"
        )
    return l1_inputs.graph_vae(rng, batch, dims["n_particles"])


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="graph_vae",
        family="gnn",
        module="graph_vae",
        summary="dijet graph VAE: kNN (k=8) in the model, 2 EdgeConvs, per-node decoder; "
        "particles [B,P,3] + mask, any P",
        spec=_graph_vae_spec,
        defaults={"k": 8},
        target_params=17_075,
        check=_check_graph_vae,
        param_inputs=_graph_vae_inputs,
    ),
]
