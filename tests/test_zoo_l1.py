"""The second-round zoo models: l1_ad_vae, graph_vae, particle_transformer.

Parameter counts against ../shared/zoo-spec.md, realistic inputs, padding that changes nothing,
the Keras twin, and exports at batch 1 and 7 with padding on both torch exporters; the legacy
export of ParticleTransformer gives NaN on padded particles, and validate flags it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.zoo import build_inputs, entry, model_ref, spec_of

torch = pytest.importorskip("torch")


def _count(module: object) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "params", "target"),
    [
        ("l1_ad_vae", {}, 2_656),  # the trigger model: the encoder
        ("l1_ad_vae", {"variant": "full"}, 5_225),  # encoder 2,656 + decoder 2,569
        ("graph_vae", {}, 17_075),  # "about 17,000" in the spec
        ("particle_transformer", {}, 2_143_486),  # weaver-core 0.5.3, 17 features, 10 classes
    ],
)
def test_parameter_counts(name: str, params: dict[str, str], target: int) -> None:
    e = entry(name)
    assert _count(e.build(e.params(params))) == target


def _run(name: str, params: dict[str, str], x: dict[str, np.ndarray]) -> list[np.ndarray]:
    ref = model_ref(name, params)
    spec = spec_of(ref)
    model = entry(name).build(dict(ref.params))
    with torch.no_grad():
        out = model(*[torch.from_numpy(x[t.name]) for t in spec.inputs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def test_l1_inputs_look_like_the_trigger_sees_them() -> None:
    ref = model_ref("l1_ad_vae")
    x = build_inputs(ref, spec_of(ref), 2000, {}, seed=3)["objects"].reshape(2000, 19, 3)
    pt = x[..., 0]
    # Integer hardware counts (0.5 GeV) shifted by 4 bits: every pT a multiple of 1/16.
    np.testing.assert_array_equal(pt * 16, np.round(pt * 16))
    assert (pt[:, 0] > 0).mean() > 0.99  # MET is always there (eta 0)
    assert not x[:, 0, 1].any()
    jets, egamma, muons = (pt[:, 9:19] > 0).sum(1), (pt[:, 1:5] > 0).sum(1), (pt[:, 5:9] > 0).sum(1)
    assert 3.5 < jets.mean() < 5.5 and 0.9 < egamma.mean() < 1.5 and muons.mean() < 0.6
    assert (np.diff(pt[:, 9:19], axis=1) <= 0).all()  # by falling pT within a kind
    assert (x[pt == 0] == 0).all()  # absent objects are zeros
    # The leading jets reach tens of units: ap_fixed<16,6> (|x| < 32) cannot hold them all.
    assert pt.max() > 32


def test_l1_variants_share_the_encoder() -> None:
    ref = model_ref("l1_ad_vae")
    x = build_inputs(ref, spec_of(ref), 9, {}, seed=1)
    (score,) = _run("l1_ad_vae", {}, x)
    _, mu, _ = _run("l1_ad_vae", {"variant": "full"}, x)
    np.testing.assert_allclose(score[:, 0], (mu.astype(np.float64) ** 2).sum(1), rtol=1e-5)


def test_graph_vae_padding_changes_nothing_and_any_p_runs() -> None:
    ref = model_ref("graph_vae")
    spec = spec_of(ref)
    x = build_inputs(ref, spec, 5, {"n_particles": 40}, seed=2)
    x["mask"][0, 4:] = 0  # a jet with fewer real particles than k + 1
    x["particles"][0, 4:] = 0
    more = {k: np.concatenate([v, np.zeros_like(v[:, :23])], axis=1) for k, v in x.items()}
    a, b = _run("graph_vae", {}, x), _run("graph_vae", {}, more)
    np.testing.assert_allclose(b[0][:, :40], a[0], rtol=1e-5, atol=1e-6)
    assert not b[0][:, 40:].any()  # the decoder writes nothing on padding
    for u, v in zip(a[1:], b[1:], strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_particle_transformer_padding_changes_nothing() -> None:
    ref = model_ref("particle_transformer")
    spec = spec_of(ref)
    x = build_inputs(ref, spec, 3, {"n_pf": 30}, seed=4)
    more = {k: np.concatenate([v, np.zeros_like(v[..., :10])], axis=-1) for k, v in x.items()}
    (a,), (b,) = _run("particle_transformer", {}, x), _run("particle_transformer", {}, more)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.sum(1), 1.0, rtol=1e-5)


def test_particle_transformer_is_weavers() -> None:
    weaver = pytest.importorskip("weaver.nn.model.ParticleTransformer")
    torch.manual_seed(0)
    theirs = weaver.ParticleTransformer(17, 10, for_inference=True).eval()
    ours = entry("particle_transformer").build({"features": 17, "classes": 10})
    theirs.load_state_dict(ours.state_dict(), strict=True)  # same names and shapes
    ref = model_ref("particle_transformer")
    x = build_inputs(ref, spec_of(ref), 4, {"n_pf": 50}, seed=5)
    args = [torch.from_numpy(x[k]) for k in ("pf_features", "pf_vectors", "pf_mask")]
    with torch.no_grad():
        torch.testing.assert_close(ours(*args), theirs(*args), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("l1_ad_vae", {"variant": "decoder"}, "encoder .* or full"),
        ("graph_vae", {"k": "0"}, "k >= 1"),
        ("particle_transformer", {"classes": "0"}, "classes=0"),
    ],
)
def test_bad_options_fail_clearly(name: str, params: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        model_ref(name, params)


def test_graph_vae_needs_k_plus_one_slots() -> None:
    ref = model_ref("graph_vae")
    with pytest.raises(ConfigurationError, match="--dim n_particles=5"):
        build_inputs(ref, spec_of(ref), 1, {"n_particles": 5}, seed=0)


# --- exports ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEPINFER_CACHE", str(tmp_path_factory.mktemp("zoo-l1-cache")))
        yield


def _padded(name: str, batch: int) -> dict[str, np.ndarray]:
    """Inputs of ``batch`` events, the last events cut to 1..3 real entries (zeros beyond)."""
    from hepinfer.runner.validate import pad_events

    ref = model_ref(name)
    spec = spec_of(ref)
    dims = spec.resolve_dims({k: 24 for k, _ in spec.default_dims})
    x = build_inputs(ref, spec, batch, dims, seed=11)
    keep = np.full(batch, 10**6)
    keep[batch // 2 :] = np.arange(batch - batch // 2) % 3 + 1
    return pad_events(spec, x, keep)


EXPORTS = [
    ("l1_ad_vae", "legacy"),
    ("l1_ad_vae", "dynamo"),
    ("graph_vae", "legacy"),
    ("graph_vae", "dynamo"),
    ("particle_transformer", "dynamo"),
]


@pytest.mark.slow
@pytest.mark.usefixtures("_cache")
@pytest.mark.parametrize(("name", "exporter"), EXPORTS, ids=[f"{n}-{e}" for n, e in EXPORTS])
def test_export_agrees_at_batch_1_and_7_with_padding(name: str, exporter: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    from hepinfer.convert.torch_onnx import export_zoo

    ref = model_ref(name)
    spec = spec_of(ref)
    path = export_zoo(ref, spec, exporter).path  # type: ignore[arg-type]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for i, t in zip(sess.get_inputs(), spec.inputs, strict=True):
        assert [d if isinstance(d, str) else int(d) for d in i.shape] == list(t.shape)  # dynamic axes
    for batch in (1, 7):
        x = _padded(name, batch)
        got = sess.run(None, x)
        for g, w in zip(got, _run(name, {}, x), strict=True):
            assert np.isfinite(g).all()
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5)


@pytest.mark.slow
@pytest.mark.usefixtures("_cache")
def test_particle_transformer_legacy_export_nan_on_padding_is_flagged(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from hepinfer.runner import validate

    request = validate.ValidateRequest(
        model="particle_transformer",
        backends=["onnxruntime"],
        exporter="legacy",
        dims={"n_pf": 16},
        checks=("agreement",),
        batch_sizes=(8,),
        padded_events=6,
    )
    report = validate.run_validation(request)
    (ort_entry,) = [b for b in report["backends"] if b["backend"] == "onnxruntime"]
    assert ort_entry["verdict"] == "different"
    # NaN where PyTorch has none: on the padded events (atan2(0, 0) in the pair features)...
    assert ort_entry["nonfinite"].get("padded", 0) > 0
    padded = ort_entry["sets"]["padded"]["outputs"]["softmax"]
    assert padded["nan"] > 0
    # ...and none in the reference's outputs (PyTorch's atan2(0, 0) is 0).
    (ref_entry,) = [b for b in report["backends"] if b["role"] == "reference"]
    assert not ref_entry["nonfinite"]
