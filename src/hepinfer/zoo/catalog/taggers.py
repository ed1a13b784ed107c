"""Catalogue entries of the CMS taggers (definitions in ``zoo/taggers.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders
from hepinfer.zoo.catalog.base import TensorPair, ZooEntry, batch_builder, fixed_spec, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec, TensorSpec


def _deepdoublex_spec(params: Mapping[str, Any]) -> ModelSpec:
    if params["version"] == "102X":
        shapes = [(1, 5), (60, 8), (40, 21), (5, 7)]
    else:
        shapes = [(1, 27), (60, 8), (5, 2)]
    ins: list[TensorPair | TensorSpec] = [(f"input_{i + 1}", (BATCH, *s)) for i, s in enumerate(shapes)]
    return make_spec("deepdoublex", ins, [("ID_pred", (BATCH, 2))], classifier=True)


def _check_deepdoublex(params: Mapping[str, Any]) -> None:
    if params["version"] not in ("102X", "94X"):
        raise ConfigurationError(
            f"deepdoublex version={params['version']}: use 102X (V02, default) or 94X (V01 DDB)"
        )


def _deepdoublex_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    return builders.deepdoublex(rng, batch, str(params["version"]))


_DEEPTAU_INPUTS: list[TensorPair] = [("input_tau", (BATCH, 47))] + [
    (f"input_{region}_{kind}", (BATCH, size, size, channels))
    for region, size in (("inner", 11), ("outer", 21))
    for kind, channels in (("egamma", 86), ("muon", 64), ("hadrons", 38))
]


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="deepak8",
        family="taggers",
        module="taggers",
        summary="CMS DeepAK8 V02: 1D ResNets on 100 PF candidates + 7 SVs, 17 classes",
        spec=fixed_spec(
            "deepak8",
            [("pfcand", (BATCH, 42, 100, 1)), ("sv", (BATCH, 15, 7, 1))],
            [("softmax", (BATCH, 17))],
            classifier=True,
        ),
        target_params=468_373,
        target_kind="stored",
        inputs=batch_builder(builders.deepak8),
    ),
    ZooEntry(
        name="deepjet",
        family="taggers",
        module="taggers",
        summary="CMS DeepJet (DeepFlavour): 1x1 convs + LSTMs + 8 dense, 6 flavours",
        spec=fixed_spec(
            "deepjet",
            [
                ("input_1", (BATCH, 15)),
                ("input_2", (BATCH, 25, 16)),
                ("input_3", (BATCH, 25, 6)),
                ("input_4", (BATCH, 4, 12)),
                ("input_5", (BATCH, 1)),
            ],
            [("ID_pred", (BATCH, 6)), ("jet_pt", (BATCH, 1))],
            classifier=True,
        ),
        target_params=269_258,
        target_kind="stored",
        inputs=batch_builder(builders.deepjet),
    ),
    ZooEntry(
        name="deepdoublex",
        family="taggers",
        module="taggers",
        origin="keras",
        summary="CMS DeepDoubleX: conv + reversed-GRU branches; version 102X (V02) or 94X (DDB)",
        spec=_deepdoublex_spec,
        defaults={"version": "102X"},
        target_params=57_990,
        target_kind="stored",
        check=_check_deepdoublex,
        param_inputs=_deepdoublex_inputs,
    ),
    ZooEntry(
        name="deeptau",
        family="taggers",
        module="taggers",
        origin="keras",
        summary="CMS DeepTau v2: dense tau branch + convs on inner/outer eta-phi grids, 4 classes",
        spec=fixed_spec("deeptau", _DEEPTAU_INPUTS, [("main_output", (BATCH, 4))], classifier=True),
        target_params=1_155_353,
        inputs=batch_builder(builders.deeptau),
    ),
    ZooEntry(
        name="breg",
        family="taggers",
        module="taggers",
        origin="keras",
        summary="CMS b-jet energy regression: 6 dense blocks (1024..128) -> correction, quantiles",
        spec=fixed_spec("breg", [("input", (BATCH, 43))], [("output", (BATCH, 3))]),
        target_params=2_837_721,
        inputs=batch_builder(builders.breg),
    ),
]
