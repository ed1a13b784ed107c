"""The zoo: parameter counts against the spec, realistic inputs, graphs from images, bad options."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import ENTRIES, build_inputs, entry, model_ref, spec_of
from hepinfer.zoo.builders import image_graph, tau_images

torch = pytest.importorskip("torch")


def _count(module: object, kind: str) -> int:
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)  # type: ignore[attr-defined]
    if kind == "trainable":
        return trainable
    buffers = module.named_buffers()  # type: ignore[attr-defined]
    return trainable + sum(b.numel() for n, b in buffers if not n.endswith("num_batches_tracked"))


@pytest.mark.parametrize("name", [n for n, e in ENTRIES.items() if e.target_params])
def test_parameter_count_matches_spec(name: str) -> None:
    e = entry(name)
    model = e.build(e.params({}))
    assert _count(model, e.target_kind) == pytest.approx(e.target_params, rel=0.01)


@pytest.mark.parametrize(
    ("name", "params", "kind", "target"),
    [
        ("particlenet", {"variant": "paper"}, "trainable", 366_160),
        ("particlenet", {"variant": "lite"}, "trainable", 26_416),
        ("particlenet", {"variant": "general"}, "stored", 587_065),  # real ONNX count
        ("deepdoublex", {"version": "94X"}, "stored", 40_724),  # rootbench DDB_B1
        ("deeptau", {}, "stored", 1_165_301),
        ("breg", {}, "stored", 2_837_721 + 8_022),
    ],
)
def test_variant_counts(name: str, params: dict[str, str], kind: str, target: int) -> None:
    e = entry(name)
    assert _count(e.build(e.params(params)), kind) == pytest.approx(target, rel=0.01)


CASES = [(n, {}) for n in ENTRIES if n not in ("calo_flow", "generator", "conv_d100_l14")] + [
    ("particlenet", {"variant": "lite"}),
    ("deepdoublex", {"version": "94X"}),
    ("gnn_tau", {"form": "indices"}),
    ("gnn_tau", {"form": "flat"}),
    ("calo_flow", {"voxels": "368"}),
    ("event_vae", {"R": "39"}),
]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_inputs_fit_the_model(name: str, params: dict[str, str]) -> None:
    ref = model_ref(name, params)
    spec = spec_of(ref)
    dims = spec.resolve_dims({})
    x = build_inputs(ref, spec, 3, dims, seed=4)
    again = build_inputs(ref, spec, 3, dims, seed=4)
    assert all(np.array_equal(x[k], again[k]) for k in x)  # seeded: identical every time
    assert [t.name for t in spec.inputs] == list(x)
    for t in spec.inputs:
        assert x[t.name].dtype == np.dtype(t.dtype)
        assert np.isfinite(x[t.name]).all() if x[t.name].dtype.kind == "f" else True
    model = entry(name).build(dict(ref.params))
    with torch.no_grad():
        out = model(*[torch.from_numpy(x[t.name]) for t in spec.inputs])
    out = out if isinstance(out, tuple) else (out,)
    for o, t in zip(out, spec.outputs, strict=True):
        assert tuple(o.shape) == t.concrete(3, dims)
        assert torch.isfinite(o).all()
    if spec.classifier:
        assert torch.allclose(out[0].sum(dim=1), torch.ones(3), atol=1e-5)


def test_jets_are_realistic() -> None:
    ref = model_ref("particlenet")
    spec = spec_of(ref)
    x = build_inputs(ref, spec, 64, {"n_pf": 100, "n_sv": 10}, seed=1)
    mask = x["pf_mask"][:, 0, :]
    n = mask.sum(axis=1)
    # Real particles first, then padding; a wide spread of multiplicities.
    assert np.array_equal(mask, (np.arange(100)[None, :] < n[:, None]).astype(np.float32))
    assert n.min() < 20 and n.max() > 60
    # Padding is zero everywhere; angles within the AK8 cone.
    assert not x["pf_features"][np.broadcast_to(mask[:, None, :] == 0, x["pf_features"].shape)].any()
    dr = np.hypot(x["pf_points"][:, 0], x["pf_points"][:, 1])
    assert dr.max() < 0.8
    # pT (log pT is feature 0) falls along the list; the spectrum is steep.
    logpt = np.where(mask > 0, x["pf_features"][:, 0, :], -np.inf)
    real = logpt[:, :-1][mask[:, 1:] > 0]
    assert (real >= logpt[:, 1:][mask[:, 1:] > 0]).all()
    pt = np.exp(x["pf_features"][:, 0, :][mask > 0] + 1.0)
    assert pt.min() >= 0.99 and np.median(pt) < 6.0 and pt.max() > 30 * np.median(pt)


def test_jet_vae_inputs_are_jets() -> None:
    ref = model_ref("jet_vae")
    x = build_inputs(ref, spec_of(ref), 16, {}, seed=2)["jet"]
    pt = x[..., 2]
    assert (np.diff(pt, axis=1) <= 0).all()  # sorted by falling pT, padding (0) last
    assert (pt[:, 0] > 0).all() and (pt == 0).any()
    assert np.abs(x[..., :2]).max() < 0.8


def test_graph_from_image_follows_the_rule() -> None:
    rng = np.random.default_rng(0)
    img = tau_images(rng, 1, 8, 32)[0]
    g = image_graph(img, k=3, cap=64)
    assert len(g.nodes) == min(int(np.any(img != 0, axis=0).sum()), 64)
    # Nodes by falling channel-0 value; features end with normalised coordinates.
    assert (np.diff(g.nodes[:, 0]) <= 0).all()
    np.testing.assert_allclose(g.nodes[:, -2:] * 32, g.coords)
    # Each node's neighbours: the 3 nearest others, ties to the lower index (brute force).
    for i, c in enumerate(g.coords):
        d2 = ((g.coords - c) ** 2).sum(axis=1)
        order = sorted((d, j) for j, d in enumerate(d2) if j != i)
        assert list(g.neighbours[i]) == [j for _, j in order[:3]]


def test_gnn_forms_agree_on_one_image() -> None:
    outs = {}
    for form in ("knn", "indices"):
        ref = model_ref("gnn_tau", {"form": form})
        spec = spec_of(ref)
        x = build_inputs(ref, spec, 5, spec.resolve_dims({}), seed=3)
        model = entry("gnn_tau").build(dict(ref.params))
        with torch.no_grad():
            outs[form] = model(*[torch.from_numpy(x[t.name]) for t in spec.inputs])
    torch.testing.assert_close(outs["knn"], outs["indices"])


def test_padding_does_not_change_particlenet() -> None:
    ref = model_ref("particlenet", {"variant": "lite"})
    spec = spec_of(ref)
    x = build_inputs(ref, spec, 4, {"n_pf": 100}, seed=5)
    padded = {k: np.concatenate([v, np.zeros_like(v[..., :30])], axis=-1) for k, v in x.items()}
    model = entry("particlenet").build(dict(ref.params))
    with torch.no_grad():
        a = model(*[torch.from_numpy(x[t.name]) for t in spec.inputs])
        b = model(*[torch.from_numpy(padded[t.name]) for t in spec.inputs])
    torch.testing.assert_close(a, b)


def test_unknown_model_lists_the_zoo() -> None:
    with pytest.raises(ConfigurationError, match="particlenet") as info:
        model_ref("particle_net")
    assert "jet_vae" in str(info.value) and "gnn_tau" in str(info.value)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("event_vae", {"R": "12"}, "R >= 13"),
        ("particlenet", {"variant": "huge"}, "general, ak4, paper, lite"),
        ("particlenet", {"k": "-1"}, "k >= 1"),
        ("deepdoublex", {"version": "80X"}, "102X"),
        ("gnn_tau", {"form": "dense"}, "knn, indices, flat"),
        ("calo_flow", {"voxels": "0"}, "voxels=0"),
        ("particlenet", {"kk": "3"}, "no such option"),
    ],
)
def test_impossible_options_fail_clearly(name: str, params: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        model_ref(name, params)


def test_k_larger_than_the_particles_fails_clearly() -> None:
    ref = model_ref("particlenet", {"k": "16"})
    spec = spec_of(ref)
    with pytest.raises(ConfigurationError, match=r"needs at least 17 particle slots.*n_pf=10, n_sv=2"):
        build_inputs(ref, spec, 1, spec.resolve_dims({"n_pf": 10, "n_sv": 2}), seed=0)
    ref = model_ref("gnn_tau", {"k": "8"})
    with pytest.raises(ConfigurationError, match="--dim n_nodes"):
        build_inputs(ref, spec_of(ref), 1, {"n_nodes": 5}, seed=0)


def test_zoo_command_lists_models_and_refuses_bad_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hepinfer.cli.main import main

    monkeypatch.setenv("COLUMNS", "400")  # rich would fold the table to 80 columns

    assert main(["zoo", "--no-count"]) == 0
    out = capsys.readouterr().out
    assert "deepak8" in out and "gnn_tau" in out and "pfcand[batch, 42, 100, 1]" in out
    assert main(["zoo", "particlenet", "--param", "k=200"]) == 1
    err = capsys.readouterr().err
    assert "needs at least 201 particle slots" in err and "Traceback" not in err
