"""Catalogue entry of the L1 trigger anomaly-detection VAE l1_ad_vae (definition in ``zoo/l1.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import l1_inputs
from hepinfer.zoo.catalog.base import TensorPair, ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec

L1_VARIANTS = ("encoder", "full")


def _l1_spec(params: Mapping[str, Any]) -> ModelSpec:
    if params["variant"] == "encoder":
        outputs: list[TensorPair] = [("score", (BATCH, 1))]
    else:
        outputs = [
            ("reconstruction", (BATCH, 57)),
            ("z_mean", (BATCH, 8)),
            ("z_log_var", (BATCH, 8)),
        ]
    return make_spec("l1_ad_vae", [("objects", (BATCH, 57))], outputs)


def _check_l1(params: Mapping[str, Any]) -> None:
    if params["variant"] not in L1_VARIANTS:
        raise ConfigurationError(
            f"l1_ad_vae variant={params['variant']}: use encoder (the L1 trigger model, "
            "score sum(mu^2)) or full (the training-time VAE)"
        )


def _l1_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return l1_inputs.l1_objects(rng, batch)


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="l1_ad_vae",
        family="l1",
        module="l1",
        summary="L1 trigger anomaly-detection VAE on 19 L1 objects [B,57]; variant encoder "
        "(trigger: score sum(mu^2)) or full (recon, z); Keras twin for hls4ml",
        spec=_l1_spec,
        defaults={"variant": "encoder"},
        target_params=2_656,
        inputs=_l1_inputs,
        check=_check_l1,
    ),
]
