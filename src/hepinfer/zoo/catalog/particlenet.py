"""Catalogue entry of ParticleNet (layers in ``zoo/particlenet.py``) and its variants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders
from hepinfer.zoo.catalog.base import TensorPair, ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec, TensorSpec

# variant -> (default k, PF features, classes, with SV branch); layers in zoo/particlenet.py.
PARTICLENET_VARIANTS = {
    "general": (16, 25, 20, True),
    "ak4": (16, 23, 4, True),
    "paper": (16, 7, 2, False),
    "lite": (7, 7, 2, False),
}


def _particlenet_k(params: Mapping[str, Any]) -> int:
    return int(params["k"]) or PARTICLENET_VARIANTS[params["variant"]][0]


def _particlenet_spec(params: Mapping[str, Any]) -> ModelSpec:
    _, features, classes, with_sv = PARTICLENET_VARIANTS[params["variant"]]
    ins: list[TensorPair | TensorSpec] = [
        ("pf_points", (BATCH, 2, "n_pf")),
        ("pf_features", (BATCH, features, "n_pf")),
        ("pf_mask", (BATCH, 1, "n_pf")),
    ]
    dims = {"n_pf": 100}
    if with_sv:
        ins += [
            ("sv_points", (BATCH, 2, "n_sv")),
            ("sv_features", (BATCH, 11, "n_sv")),
            ("sv_mask", (BATCH, 1, "n_sv")),
        ]
        dims["n_sv"] = 10
    return make_spec("particlenet", ins, [("softmax", (BATCH, classes))], dims, classifier=True)


def _check_particlenet(params: Mapping[str, Any]) -> None:
    if params["variant"] not in PARTICLENET_VARIANTS:
        raise ConfigurationError(
            f"particlenet variant={params['variant']}: use one of {', '.join(PARTICLENET_VARIANTS)}"
        )
    if params["k"] < 0:
        raise ConfigurationError(f"particlenet k={params['k']}: use k >= 1 (0 = the variant's own)")


def _particlenet_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    _, features, _, with_sv = PARTICLENET_VARIANTS[params["variant"]]
    k = _particlenet_k(params)
    points = dims["n_pf"] + (dims["n_sv"] if with_sv else 0)
    if points < k + 1:
        raise ConfigurationError(
            f"particlenet k={k} neighbours needs at least {k + 1} particle slots per jet, but "
            f"the padded lists hold {points} ({', '.join(f'{s}={v}' for s, v in dims.items())}); "
            f"raise --dim n_pf or lower --param k"
        )
    return builders.particlenet(rng, batch, dims["n_pf"], dims.get("n_sv", 0), features, with_sv)


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="particlenet",
        family="taggers",
        module="particlenet",
        summary="ParticleNet EdgeConv (kNN in the model); variant general (CMS AK8, "
        "20 classes), ak4 (CMS AK4 CHS, 4 classes), "
        "paper or lite; k=0: the variant's own",
        spec=_particlenet_spec,
        defaults={"variant": "general", "k": 0},
        target_params=582_492,
        check=_check_particlenet,
        param_inputs=_particlenet_inputs,
    ),
]
