"""Catalogue entries of the rootbench models (definitions in ``zoo/rootbench.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.zoo import events
from hepinfer.zoo.catalog.base import TensorPair, ZooEntry, fixed_spec, image_builder
from hepinfer.zoo.spec import BATCH, ModelSpec


def _higgs_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return {"input": events.higgs_features(rng, batch)}


def _rootbench(
    name: str,
    summary: str,
    tensors: tuple[list[TensorPair], list[TensorPair]],
    target: int,
    **kw: Any,
) -> ZooEntry:
    return ZooEntry(
        name=name, family="rootbench", summary=summary, module="rootbench",
        spec=fixed_spec(name, *tensors), target_params=target, **kw,
    )  # fmt: skip


_RNN_NOTE = "one {} layer (hidden 8) on [B,20,10], Linear 8->2 on the last step"

ENTRIES: list[ZooEntry] = [
    _rootbench(
        "linear_event",
        "rootbench dense MLP: Linear 100->50, 8 x (50->50), 50->10, ReLU",
        ([("input", (BATCH, 100))], [("output", (BATCH, 10))]),
        25_960,
    ),
    _rootbench(
        "higgs_model_dense",
        "rootbench Keras Higgs MLP: 7->100, 4 x (100->100) ReLU, 100->2 sigmoid",
        ([("input", (BATCH, 7))], [("output", (BATCH, 2))]),
        41_402,
        inputs=_higgs_inputs,
        origin="keras",
    ),
    _rootbench(
        "conv_d100_l1",
        "rootbench Conv2d 1->2 5x5 pad 2 + ReLU on a sparse 100x100 image",
        ([("input", (BATCH, 1, 100, 100))], [("output", (BATCH, 2, 100, 100))]),
        52,
        inputs=image_builder(1, (100, 100), 60.0),
    ),
    _rootbench(
        "conv_d100_l14",
        "rootbench 14 x (Conv2d 5x5 + ReLU), channels 1..128..1, 100x100 image",
        ([("input", (BATCH, 1, 100, 100))], [("output", (BATCH, 1, 100, 100))]),
        546_481,
        inputs=image_builder(1, (100, 100), 60.0),
    ),
    _rootbench(
        "conv3d_d32_l4",
        "rootbench 3D convolutions on a sparse 32^3 grid, then Linear 256->8",
        ([("input", (BATCH, 1, 32, 32, 32))], [("output", (BATCH, 8))]),
        61_028,
        inputs=image_builder(1, (32, 32, 32), 200.0),
    ),
    _rootbench(
        "convtrans2d",
        "rootbench ConvTranspose2d stack: [B,1,4,4] -> [B,1,6,6]",
        ([("input", (BATCH, 1, 4, 4))], [("output", (BATCH, 1, 6, 6))]),
        625,
    ),
    _rootbench(
        "generator",
        "fast calo-sim VAE decoder: 14->20->50->100 (LeakyReLU+BN) -> 40,500 sigmoid",
        ([("input", (BATCH, 14))], [("output", (BATCH, 40_500))]),
        4_097_290,
    ),
    *[
        _rootbench(
            f"{cell}_d10_l20_h8",
            "rootbench " + _RNN_NOTE.format(cell.upper()),
            ([("input", (BATCH, 20, 10))], [("output", (BATCH, 2))]),
            count,
            target_kind="stored",
        )
        for cell, count in (("rnn", 186), ("gru", 506), ("lstm", 666))
    ],
]
