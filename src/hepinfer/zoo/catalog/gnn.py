"""Catalogue entry of the graph tau tagger gnn_tau (definition in ``zoo/gnn.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders
from hepinfer.zoo.catalog.base import TensorPair, ZooEntry, make_spec
from hepinfer.zoo.spec import BATCH, ModelSpec, TensorSpec

GNN_FORMS = ("knn", "indices", "flat")


def _gnn_spec(params: Mapping[str, Any]) -> ModelSpec:
    f, k, classes = int(params["channels"]) + 2, int(params["k"]), int(params["classes"])
    out = [("logits", (BATCH, classes))]
    if params["form"] == "flat":
        ins: list[TensorPair | TensorSpec] = [
            ("nodes", ("n_nodes_total", f)),
            TensorSpec("edges", (2, "n_edges_total"), dtype="int64", role="index"),
            TensorSpec("node_graph", ("n_nodes_total",), dtype="int64", role="index"),
            ("graph_sizes", (BATCH,)),
        ]
        # The builder makes graphs from images: these totals are typical values at batch 1.
        return make_spec("gnn_tau", ins, out, {"n_nodes_total": 20, "n_edges_total": 60})
    graph = (
        TensorSpec("graph", (BATCH, "n_nodes", 2))
        if params["form"] == "knn"
        else TensorSpec("graph", (BATCH, "n_nodes", k), dtype="int64", role="index")
    )
    ins = [("nodes", (BATCH, "n_nodes", f)), graph, ("mask", (BATCH, "n_nodes"))]
    return make_spec("gnn_tau", ins, out, {"n_nodes": 64})


def _check_gnn(params: Mapping[str, Any]) -> None:
    if params["form"] not in GNN_FORMS:
        raise ConfigurationError(f"gnn_tau form={params['form']}: use one of {', '.join(GNN_FORMS)}")
    for key in ("channels", "image", "k", "hidden", "classes"):
        if params[key] < 1:
            raise ConfigurationError(f"gnn_tau {key}={params[key]}: must be 1 or more")


def _gnn_inputs(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
    params: Mapping[str, Any],
) -> dict[str, np.ndarray]:  # fmt: skip
    if params["form"] != "flat" and dims["n_nodes"] < params["k"] + 1:
        raise ConfigurationError(
            f"gnn_tau k={params['k']} needs at least {params['k'] + 1} node slots per graph "
            f"(--dim n_nodes={dims['n_nodes']}); raise --dim n_nodes or lower --param k"
        )
    return builders.gnn_tau(rng, batch, dims, params)


ENTRIES: list[ZooEntry] = [
    ZooEntry(
        name="gnn_tau",
        family="gnn",
        module="gnn",
        summary="graph tau tagger on image pixels (k=3 nearest); form knn (in-model TopK), "
        "indices (given) or flat (scatter-add)",
        spec=_gnn_spec,
        defaults={
            "form": "knn",
            "channels": 8,
            "image": 32,
            "k": 3,
            "hidden": 64,
            "classes": 2,
        },
        check=_check_gnn,
        param_inputs=_gnn_inputs,
    ),
]
