"""The zoo's entries: names, options, specs and input builders, without importing torch.

The PyTorch definitions live in one module per model family (``rootbench``, ``vae``,
``taggers``, ``particlenet``, ``gnn``, ``calo``), each with a ``build(name, params)``
function; the catalog names the module so that only a worker that runs the model imports
torch. Input builders live in ``builders`` (numpy only).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.errors import ConfigurationError
from hepinfer.zoo import builders, events, l1_inputs
from hepinfer.zoo.inputs import InputBuilder, generic_inputs
from hepinfer.zoo.spec import BATCH, ModelRef, ModelSpec, TensorSpec

ParamInputBuilder = Callable[
    [ModelSpec, int, Mapping[str, int], np.random.Generator, Mapping[str, Any]],
    dict[str, np.ndarray],
]


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
    # What target_params counts: "trainable" parameters, or "stored" (trainable plus
    # batch-norm statistics and constant buffers: the initializers of an unfused ONNX export).
    target_kind: Literal["trainable", "stored"] = "trainable"
    # Builder that also needs the model's options (gnn_tau, deepdoublex); else ``inputs``.
    param_inputs: ParamInputBuilder | None = None

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

    def make_inputs(
        self, spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator,
        params: Mapping[str, Any],
    ) -> dict[str, np.ndarray]:  # fmt: skip
        """Seeded inputs for one call (the options complete the defaults)."""
        if self.param_inputs is not None:
            return self.param_inputs(spec, batch, dims, rng, {**self.defaults, **params})
        return self.inputs(spec, batch, dims, rng)

    def build(self, params: Mapping[str, Any]) -> Any:
        """The PyTorch module (imports torch). Weights are seeded: the same every time."""
        require("torch", f"building the zoo model {self.name} (its definition is PyTorch)")
        module = importlib.import_module(f"hepinfer.zoo.{self.module}")
        return module.build(self.name, dict(params))

    def count_parameters(self, params: Mapping[str, Any] | None = None) -> int:
        """Trainable parameters of the PyTorch model at ``params`` over the defaults (builds it)."""
        module = self.build(self.params(params or {}))
        return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _spec(
    name: str,
    inputs: Sequence[tuple[str, tuple[Any, ...]] | TensorSpec],
    outputs: Sequence[tuple[str, tuple[Any, ...]]],
    dims: Mapping[str, int] | None = None,
    classifier: bool = False,
) -> ModelSpec:
    """A ModelSpec from (name, shape) pairs; masks are recognised by name."""
    ins = tuple(
        t if isinstance(t, TensorSpec)
        else TensorSpec(t[0], t[1], role="mask" if "mask" in t[0] else "features")
        for t in inputs
    )  # fmt: skip
    outs = tuple(TensorSpec(n, s) for n, s in outputs)
    return ModelSpec(name, ins, outs, tuple(sorted((dims or {}).items())), classifier=classifier)


def _fixed(
    name: str,
    inputs: list[tuple[str, tuple[Any, ...]]],
    outputs: list[tuple[str, tuple[Any, ...]]],
    classifier: bool = False,
) -> Callable[[Mapping[str, Any]], ModelSpec]:  # fmt: skip
    """Spec function of a model without options."""
    return lambda params: _spec(name, inputs, outputs, classifier=classifier)


def _builder(
    make: Callable[[np.random.Generator, int], dict[str, np.ndarray]],
) -> InputBuilder:
    return lambda spec, batch, dims, rng: make(rng, batch)


def _image_builder(channels: int, shape: tuple[int, ...], hits: float) -> InputBuilder:
    def make(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        return {"input": builders.detector_image(rng, batch, channels, shape, hits)}

    return _builder(make)


def _normal_builder(
    spec: ModelSpec, batch: int, dims: Mapping[str, int], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return generic_inputs(spec, batch, dims, rng)


# --- VAEs -------------------------------------------------------------------------------------


def _event_vae_spec(params: Mapping[str, Any]) -> ModelSpec:
    rows = int(params["R"])
    return _spec(
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


# --- ParticleNet ------------------------------------------------------------------------------

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
    ins: list[tuple[str, tuple[Any, ...]] | TensorSpec] = [
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
    return _spec("particlenet", ins, [("softmax", (BATCH, classes))], dims, classifier=True)


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


# --- CMS taggers ------------------------------------------------------------------------------


def _deepdoublex_spec(params: Mapping[str, Any]) -> ModelSpec:
    if params["version"] == "102X":
        shapes = [(1, 5), (60, 8), (40, 21), (5, 7)]
    else:
        shapes = [(1, 27), (60, 8), (5, 2)]
    ins: list[tuple[str, tuple[Any, ...]] | TensorSpec] = [
        (f"input_{i + 1}", (BATCH, *s)) for i, s in enumerate(shapes)
    ]
    return _spec("deepdoublex", ins, [("ID_pred", (BATCH, 2))], classifier=True)


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


_DEEPTAU_INPUTS: list[tuple[str, tuple[Any, ...]]] = [("input_tau", (BATCH, 47))] + [
    (f"input_{region}_{kind}", (BATCH, size, size, channels))
    for region, size in (("inner", 11), ("outer", 21))
    for kind, channels in (("egamma", 86), ("muon", 64), ("hadrons", 38))
]


# --- gnn_tau ----------------------------------------------------------------------------------

GNN_FORMS = ("knn", "indices", "flat")


def _gnn_spec(params: Mapping[str, Any]) -> ModelSpec:
    f, k, classes = int(params["channels"]) + 2, int(params["k"]), int(params["classes"])
    out = [("logits", (BATCH, classes))]
    if params["form"] == "flat":
        ins: list[tuple[str, tuple[Any, ...]] | TensorSpec] = [
            ("nodes", ("n_nodes_total", f)),
            TensorSpec("edges", (2, "n_edges_total"), dtype="int64", role="index"),
            TensorSpec("node_graph", ("n_nodes_total",), dtype="int64", role="index"),
            ("graph_sizes", (BATCH,)),
        ]
        # The builder makes graphs from images: these totals are typical values at batch 1.
        return _spec("gnn_tau", ins, out, {"n_nodes_total": 20, "n_edges_total": 60})
    graph = (
        TensorSpec("graph", (BATCH, "n_nodes", 2))
        if params["form"] == "knn"
        else TensorSpec("graph", (BATCH, "n_nodes", k), dtype="int64", role="index")
    )
    ins = [("nodes", (BATCH, "n_nodes", f)), graph, ("mask", (BATCH, "n_nodes"))]
    return _spec("gnn_tau", ins, out, {"n_nodes": 64})


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


# --- calo_flow --------------------------------------------------------------------------------


def _calo_spec(params: Mapping[str, Any]) -> ModelSpec:
    v = int(params["voxels"])
    return _spec(
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


# --- second round: l1_ad_vae, graph_vae, particle_transformer ----------------------------------

L1_VARIANTS = ("encoder", "full")


def _l1_spec(params: Mapping[str, Any]) -> ModelSpec:
    if params["variant"] == "encoder":
        outputs: list[tuple[str, tuple[Any, ...]]] = [("score", (BATCH, 1))]
    else:
        outputs = [
            ("reconstruction", (BATCH, 57)),
            ("z_mean", (BATCH, 8)),
            ("z_log_var", (BATCH, 8)),
        ]
    return _spec("l1_ad_vae", [("objects", (BATCH, 57))], outputs)


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


def _graph_vae_spec(params: Mapping[str, Any]) -> ModelSpec:
    return _spec(
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


def _part_spec(params: Mapping[str, Any]) -> ModelSpec:
    f, classes = int(params["features"]), int(params["classes"])
    return _spec(
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


def _rootbench(
    name: str,
    summary: str,
    tensors: tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[str, tuple[Any, ...]]]],
    target: int,
    **kw: Any,
) -> ZooEntry:
    return ZooEntry(
        name=name, family="rootbench", summary=summary, module="rootbench",
        spec=_fixed(name, *tensors), target_params=target, **kw,
    )  # fmt: skip


_RNN_NOTE = "one {} layer (hidden 8) on [B,20,10], Linear 8->2 on the last step"

ENTRIES: dict[str, ZooEntry] = {
    e.name: e
    for e in [
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
            inputs=_image_builder(1, (100, 100), 60.0),
        ),
        _rootbench(
            "conv_d100_l14",
            "rootbench 14 x (Conv2d 5x5 + ReLU), channels 1..128..1, 100x100 image",
            ([("input", (BATCH, 1, 100, 100))], [("output", (BATCH, 1, 100, 100))]),
            546_481,
            inputs=_image_builder(1, (100, 100), 60.0),
        ),
        _rootbench(
            "conv3d_d32_l4",
            "rootbench 3D convolutions on a sparse 32^3 grid, then Linear 256->8",
            ([("input", (BATCH, 1, 32, 32, 32))], [("output", (BATCH, 8))]),
            61_028,
            inputs=_image_builder(1, (32, 32, 32), 200.0),
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
        ZooEntry(
            name="jet_vae",
            family="vae",
            module="vae",
            origin="keras",
            summary="dijet anomaly-detection conv VAE on one jet [B,100,3] -> recon, z (12)",
            spec=_fixed(
                "jet_vae",
                [("jet", (BATCH, 100, 3))],
                [
                    ("reconstruction", (BATCH, 100, 3)),
                    ("z_mean", (BATCH, 12)),
                    ("z_log_var", (BATCH, 12)),
                ],
            ),
            target_params=417_701,
            inputs=_builder(builders.jet_vae),
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
        ZooEntry(
            name="deepak8",
            family="taggers",
            module="taggers",
            summary="CMS DeepAK8 V02: 1D ResNets on 100 PF candidates + 7 SVs, 17 classes",
            spec=_fixed(
                "deepak8",
                [("pfcand", (BATCH, 42, 100, 1)), ("sv", (BATCH, 15, 7, 1))],
                [("softmax", (BATCH, 17))],
                classifier=True,
            ),
            target_params=468_373,
            target_kind="stored",
            inputs=_builder(builders.deepak8),
        ),
        ZooEntry(
            name="deepjet",
            family="taggers",
            module="taggers",
            summary="CMS DeepJet (DeepFlavour): 1x1 convs + LSTMs + 8 dense, 6 flavours",
            spec=_fixed(
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
            inputs=_builder(builders.deepjet),
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
            spec=_fixed("deeptau", _DEEPTAU_INPUTS, [("main_output", (BATCH, 4))], classifier=True),
            target_params=1_155_353,
            inputs=_builder(builders.deeptau),
        ),
        ZooEntry(
            name="breg",
            family="taggers",
            module="taggers",
            origin="keras",
            summary="CMS b-jet energy regression: 6 dense blocks (1024..128) -> correction, quantiles",
            spec=_fixed("breg", [("input", (BATCH, 43))], [("output", (BATCH, 3))]),
            target_params=2_837_721,
            inputs=_builder(builders.breg),
        ),
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
