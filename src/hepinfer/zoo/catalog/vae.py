"""Catalogue entries of the VAEs (definitions in ``zoo/vae.py``): jet_vae and event_vae."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders, events
from hepinfer.zoo.catalog.base import ZooEntry, batch_builder, fixed_spec, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec


def _event_vae_spec(params: Mapping[str, Any]) -> ModelSpec:
    rows = int(params["R"])
    return make_spec(
        "event_vae",
        [("objects", (BATCH, 1, rows, 4)), ("met", (BATCH, 1))],
        [
            ("reconstruction", (BATCH, 1, rows, 4)),
            ("z_mean", (BATCH, 15)),
            ("z_log_var", (BATCH, 15)),
        ],
    )


def _check_event_vae(params: Mapping[str, Any]) -> None:
    if params["R"] < 13:
        raise ConfigurationError(
            f"event_vae R={params['R']}: the encoder's convolutions need R >= 13 rows "
            "(32 reproduces the quoted export, 39 the presentation's layout)"
        )


def _event_vae_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    rows = spec.inputs[0].shape[2]
    assert isinstance(rows, int)
    objects, met = events.event_objects(rng, batch, rows)
    return {"objects": objects, "met": met}


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="jet_vae",
        family="vae",
        module="vae",
        origin="keras",
        summary="dijet anomaly-detection conv VAE on one jet [B,100,3] -> recon, z (12)",
        spec=fixed_spec(
            "jet_vae",
            [("jet", (BATCH, 100, 3))],
            [
                ("reconstruction", (BATCH, 100, 3)),
                ("z_mean", (BATCH, 12)),
                ("z_log_var", (BATCH, 12)),
            ],
        ),
        target_params=417_701,
        inputs=batch_builder(builders.jet_vae),
    ),
    ZooEntry(
        name="event_vae",
        family="vae",
        module="vae",
        summary="DarkMachines event-level conv VAE: objects [B,1,R,4] + MET -> recon, z",
        spec=_event_vae_spec,
        defaults={"R": 32},
        target_params=15_966,
        inputs=_event_vae_inputs,
        check=_check_event_vae,
    ),
]
