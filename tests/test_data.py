"""Events as model inputs: real CMS testdata, Pythia 8 + fastjet generation, images, graphs,
files, the disk-inclusive pipeline and the quick VAE training (tiny samples throughout)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepinfer.data import builders, generate, images, pipeline, real, store, train
from hepinfer.errors import DataError
from hepinfer.zoo.events import event_layout

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Generated events and trained weights go to a cache of this module, never the user's."""
    old = os.environ.get("HEPINFER_CACHE")
    os.environ["HEPINFER_CACHE"] = str(tmp_path_factory.mktemp("data-cache"))
    yield
    if old is None:
        os.environ.pop("HEPINFER_CACHE", None)
    else:
        os.environ["HEPINFER_CACHE"] = old


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread (the machine is shared), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hzz() -> ak.Array:
    return real.load("hzz", entry_stop=300)


@pytest.fixture(scope="module")
def qcd() -> ak.Array:
    return generate.generate("qcd", 12, seed=7)


@pytest.fixture(scope="module")
def graviton() -> ak.Array:
    return generate.generate("graviton-narrow", 12, seed=7)


# -- real events -------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [32, 39])
def test_hzz_event_vae_layout_matches_the_file(hzz: ak.Array, rows: int) -> None:
    x = builders.event_vae_inputs(hzz, rows)
    objects, met = x["objects"], x["met"]
    assert objects.shape == (len(hzz), 1, rows, 4) and objects.dtype == np.float32
    assert met.shape == (len(hzz), 1)
    raw = uproot.open(real.path_of("hzz"))["events"].arrays(
        ["Muon_Px", "Muon_Py", "Muon_Charge", "MET_px", "MET_py", "NJet"], entry_stop=300
    )
    np.testing.assert_allclose(met[:, 0], np.hypot(raw.MET_px, raw.MET_py) / 100, rtol=1e-5)
    starts = {}
    row = 0
    for name, slots, _ in event_layout(rows):
        starts[name] = (row, slots)
        row += slots
    assert row == rows
    # The leading mu+ of each event sits in the first mu+ slot, in units of 100 GeV.
    mu_pt = np.hypot(raw.Muon_Px, raw.Muon_Py)
    plus = mu_pt[raw.Muon_Charge > 0]
    lead = ak.to_numpy(ak.fill_none(ak.max(plus, axis=1), 0.0))
    r0, _ = starts["mu+"]
    np.testing.assert_allclose(objects[:, 0, r0, 1], lead / 100, rtol=1e-5)
    # Empty slots are zero in all four features; pT falls within a group.
    jr, jslots = starts["jet"]
    jets_pt = objects[:, 0, jr : jr + jslots, 1]
    assert np.all(np.diff(jets_pt, axis=1) <= 0)
    assert np.all((objects[..., 1] == 0) == np.all(objects == 0, axis=-1))
    # E >= pT for every real object.
    assert np.all(objects[..., 0] >= objects[..., 1] - 1e-6)


def test_zmumu_has_two_opposite_muons_and_nothing_else() -> None:
    events = real.load("zmumu", entry_stop=200)
    x = builders.event_vae_inputs(events, 39)["objects"]
    layout = {name: slots for name, slots, _ in event_layout(39)}
    mu_rows = slice(layout["jet"] + layout["bjet"], layout["jet"] + layout["bjet"] + 8)
    filled = np.any(x[:, 0] != 0, axis=-1)
    assert filled[:, mu_rows].sum() == 2 * len(events)
    assert not filled[:, : mu_rows.start].any() and not filled[:, mu_rows.stop :].any()
    assert np.all(x[:, :, :, 3] <= np.pi) and np.all(x[:, :, :, 3] >= -np.pi)
    assert len(builders.leading_fatjets(events)) == 0


# -- generation -------------------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_same_events_other_seed_other_events(qcd: ak.Array) -> None:
    again = generate.generate("qcd", 12, seed=7)
    assert ak.to_list(again) == ak.to_list(qcd)
    other = generate.generate("qcd", 12, seed=8)
    assert ak.to_list(other.fatjets.pt) != ak.to_list(qcd.fatjets.pt)


def test_generated_objects_are_physical(qcd: ak.Array, graviton: ak.Array) -> None:
    for events in (qcd, graviton):
        fat = events.fatjets
        assert ak.all(fat.pt >= 200) and ak.all(fat.pt[:, :-1] >= fat.pt[:, 1:])
        cons = fat.constituents
        assert ak.all(cons.pt[:, :, :-1] >= cons.pt[:, :, 1:])  # falling pT
        # The constituents add up to the jet.
        px = ak.sum(cons.pt * np.cos(cons.phi), axis=2)
        py = ak.sum(cons.pt * np.sin(cons.phi), axis=2)
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(np.hypot(px, py))), ak.to_numpy(ak.flatten(fat.pt)), rtol=1e-3
        )
        assert ak.all(events.jets.pt >= 20) and ak.all(events.met >= 0)
    # Two hard jets in (nearly) every event of both processes.
    assert ak.mean(ak.num(qcd.fatjets) >= 2) > 0.8
    assert ak.mean(ak.num(graviton.fatjets) >= 2) > 0.8


def test_jet_vae_and_particlenet_inputs(qcd: ak.Array) -> None:
    jets = builders.leading_fatjets(qcd)
    n = len(jets)
    counts = np.minimum(ak.to_numpy(ak.num(jets.constituents)), 100)
    jet = builders.jet_vae_inputs(jets)["jet"]
    assert jet.shape == (n, 100, 3) and jet.dtype == np.float32
    real_rows = np.arange(100)[None, :] < counts[:, None]
    assert np.all(jet[~real_rows] == 0) and np.all(jet[real_rows][:, 2] > 0)
    assert np.all(np.diff(jet[:, :, 2], axis=1) <= 0)  # pT (GeV) falling, padding last
    # Within the R=0.8 jet: anti-kt measures rapidity, so soft massive hadrons stray in eta only.
    rel = jet[real_rows][:, :2]
    assert np.abs(rel[:, 1]).max() < 1.0 and np.mean(np.hypot(rel[:, 0], rel[:, 1]) < 0.85) > 0.99
    pn = builders.particlenet_inputs(jets, particles=100, vertices=7)
    assert pn["pf_points"].shape == (n, 2, 100) and pn["pf_features"].shape == (n, 25, 100)
    np.testing.assert_array_equal(pn["pf_mask"][:, 0], real_rows.astype(np.float32))
    flip = np.sign(ak.to_numpy(jets.eta))[:, None]
    np.testing.assert_allclose(pn["pf_points"][:, 0], jet[:, :, 0] * flip)
    np.testing.assert_array_equal(pn["pf_points"][:, 1], jet[:, :, 1])
    np.testing.assert_array_equal(pn["pf_features"][:, 2:4], pn["pf_points"])
    filled = len(builders.PF_FILLED)
    assert np.all(pn["pf_features"][:, filled:] == 0)
    assert np.all(pn["pf_features"][:, :, :][~np.broadcast_to(real_rows[:, None, :], (n, 25, 100))] == 0)
    kinds = pn["pf_features"][:, 4:9].sum(axis=1)  # exactly one particle kind per real particle
    np.testing.assert_array_equal(kinds[real_rows], 1.0)
    assert pn["sv_mask"].shape == (n, 1, 7) and not pn["sv_mask"].any()
    mult = builders.ak4_multiplicity(qcd)
    assert mult.shape == (len(qcd),) and mult.min() >= 0


# -- images and graphs -------------------------------------------------------------------------


def test_jet_images_keep_the_pt_in_the_window(graviton: ak.Array) -> None:
    c = builders.constituent_arrays(builders.leading_fatjets(graviton))
    img = images.jet_images(c, size=32, half_width=0.8)
    inside = (np.abs(c["deta"]) < 0.8) & (np.abs(c["dphi"]) < 0.8) & (c["mask"] > 0)
    np.testing.assert_allclose(img.sum(axis=(1, 2, 3)), (c["pt"] * inside).sum(1), rtol=1e-4)
    charged = (c["pt"] * inside * (c["charge"] != 0)).sum(1)
    np.testing.assert_allclose(img[:, 0].sum(axis=(1, 2)), charged, rtol=1e-4)
    grids = images.deeptau_grids(
        c["deta"], c["dphi"], images.channel_weights(c["pt"], c["charge"], c["mask"]), c["mask"]
    )
    assert grids["inner"].shape == (len(img), 11, 11, 2) and grids["outer"].shape == (
        len(img),
        21,
        21,
        2,
    )


def test_knn_graph_of_a_known_image() -> None:
    img = np.zeros((2, 5, 5), np.float32)
    img[0, 0, 0] = 1.0
    img[1, 0, 1] = 2.0
    img[0, 2, 2] = 3.0
    img[1, 4, 4] = 4.0
    g = images.knn_graph(img, k=3)
    np.testing.assert_array_equal(g["coords"], [[0, 0], [0, 1], [2, 2], [4, 4]])
    np.testing.assert_allclose(g["nodes"][:, :2], [[1, 0], [0, 2], [3, 0], [0, 4]])
    np.testing.assert_allclose(g["nodes"][:, 2:], [[0, 0], [0, 0.25], [0.5, 0.5], [1, 1]])
    # Distances^2 from (0,0): (0,1)=1, (2,2)=8, (4,4)=32; from (2,2): (0,1)=5, then (0,0)=8 and
    # (4,4)=8 tie: the lower index first.
    np.testing.assert_array_equal(g["neighbours"], [[1, 2, 3], [0, 2, 3], [1, 0, 3], [2, 1, 0]])
    two = images.knn_graph(img[:, :1, :2], k=3)  # two nodes: the rest are self loops
    np.testing.assert_array_equal(two["neighbours"], [[1, 0, 0], [0, 1, 1]])
    batch = np.stack([img, np.zeros_like(img)])
    padded = images.padded_graphs(batch, k=3, max_nodes=6)
    assert padded["node_features"].shape == (2, 6, 4)
    np.testing.assert_array_equal(padded["mask"], [[1, 1, 1, 1, 0, 0], [0] * 6])
    np.testing.assert_array_equal(padded["neighbours"][0, :4], g["neighbours"])
    flat = images.flat_graphs(np.stack([img, img]), k=3)
    assert flat["x"].shape == (8, 4)
    np.testing.assert_array_equal(flat["batch"], [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(flat["neighbours"][4:], g["neighbours"] + 4)
    assert flat["edge_index"].shape == (2, 24)
    kept = images.padded_graphs(batch[:1], k=3, max_nodes=2)  # the two largest pixels
    np.testing.assert_array_equal(kept["coords"][0], [[2, 2], [4, 4]])


# -- files ------------------------------------------------------------------------------------


def test_cache_and_file_roundtrip(tmp_path: Path) -> None:
    path, was_cached = generate.cached("graviton-broad", 5, seed=3)
    assert not was_cached and path.exists()
    again, was_cached = generate.cached("graviton-broad", 5, seed=3)
    assert was_cached and again == path
    meta = store.metadata(path)
    assert meta["process"] == "graviton-broad" and meta["seed"] == 3 and meta["n_events"] == 5
    assert "5100039:mWidth = 525.0" in meta["pythia_settings"]
    chunks = list(store.iter_events(path, chunk=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert ak.to_list(ak.concatenate(chunks)) == ak.to_list(store.read(path))
    (projected,) = store.iter_events(path, chunk=10, fields=("met", "jets"))
    assert projected.fields == ["jets", "met"] or projected.fields == ["met", "jets"]
    assert ak.to_list(projected.met) == ak.to_list(chunks[0].met) + ak.to_list(chunks[1].met) + ak.to_list(
        chunks[2].met
    )


def _one_line_error(path: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "hepinfer.cli.main", "data", "info", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hepinfer: error: "), proc.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_files_give_one_line_errors(tmp_path: Path, hzz: ak.Array) -> None:
    good = store.write(hzz[:50], tmp_path / "good.parquet", {"source": "test"})
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated parquet"):
        list(store.iter_events(truncated))
    text = tmp_path / "notes.parquet"
    text.write_text("jet pt eta phi\n")
    with pytest.raises(DataError, match="neither parquet nor ROOT"):
        store.metadata(text)
    with pytest.raises(DataError, match="does not exist"):
        store.metadata(tmp_path / "absent.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(DataError, match="not written by hepinfer"):
        store.metadata(foreign)
    root = real.path_of("hzz")
    cut = tmp_path / "cut.root"
    cut.write_bytes(root.read_bytes()[: root.stat().st_size // 3])
    with pytest.raises(DataError, match=r"cut\.root"):
        list(store.iter_events(cut))
    assert "truncated parquet" in _one_line_error(truncated)
    assert "cut.root" in _one_line_error(cut)


# -- pipeline and training --------------------------------------------------------------------


def test_pipeline_times_each_stage_on_a_real_model(one_thread: None) -> None:
    import torch

    from hepinfer.zoo import entry

    model = entry("event_vae").build({"R": 32})
    calls: list[int] = []

    def prepare(inputs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v) for k, v in inputs.items()}

    def run(prepared: dict[str, torch.Tensor]) -> object:
        calls.append(len(prepared["objects"]))
        with torch.no_grad():
            return model(**prepared)

    shapes = {"objects": (1, 32, 4), "met": (1,)}
    out = pipeline.time_from_file(
        run, prepare, shapes, real.path_of("hzz"), batch=16, chunk=50, max_events=120, passes=2
    )
    assert out["family"] == "event_vae" and len(out["passes"]) == 2
    first = out["passes"][0]
    # 120 events in chunks of 50: rows carried across chunks, only the last 8 rows dropped.
    assert first["events"] == 120 and first["rows"] == 112 and first["batches"] == 7
    assert calls == [16] * 14
    assert all(first[k] > 0 for k in ("read_ns", "preprocess_ns", "inference_ns"))
    assert first["total_ns"] == first["read_ns"] + first["preprocess_ns"] + first["inference_ns"]
    with pytest.raises(DataError, match="no jet constituents"):
        pipeline.check(real.path_of("hzz"), {"jet"})
    with pytest.raises(DataError, match="no event builder"):
        pipeline.check(real.path_of("hzz"), {"input"})
    with pytest.raises(DataError, match="not one full batch"):
        pipeline.time_from_file(run, prepare, shapes, real.path_of("hzz"), batch=64, max_events=20, passes=1)


def test_roc_auc() -> None:
    assert train.roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert train.roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert train.roc_auc(np.ones(5), np.ones(3)) == 0.5
    rng = np.random.default_rng(0)
    b, s = rng.normal(0, 1, 4000), rng.normal(1, 1, 4000)
    assert abs(train.roc_auc(b, s) - 0.760) < 0.02  # Phi(1/sqrt 2)


def test_training_lowers_the_loss_of_a_module_passed_in(hzz: ak.Array, one_thread: None) -> None:
    from hepinfer.zoo import entry

    inputs = builders.event_vae_inputs(hzz[:128], 32)
    model = entry("event_vae").build({"R": 32})
    before = train.reconstruction_error(model, inputs, "objects").mean()
    losses = train.train_vae(model, inputs, "objects", epochs=3, seed=1, batch_size=32, lr=3e-3)
    after = train.reconstruction_error(model, inputs, "objects")
    assert after.shape == (128,)
    assert losses[-1] < losses[0] and after.mean() < before


@pytest.mark.slow
def test_bench_data_flag_records_disk_inclusive_timing() -> None:
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner.bench import BenchRequest, run_bench

    policy = TimingPolicy(max_time_s=0.3, min_calls=5, warmup_calls=2, warmup_s=0.0)
    request = BenchRequest(
        model="event_vae",
        backends=["pytorch"],
        batches=[8],
        policy=policy,
        data=str(real.path_of("zmumu")),
        data_chunk=40,
        data_events=100,
    )
    (record,) = run_bench(request)
    assert record["status"] == "ok", record.get("error")
    data = record["data"]
    assert data["family"] == "event_vae" and data["batch"] == 8
    assert [p["rows"] for p in data["passes"]] == [96, 96]
    assert len(data["passes"][0]["inference_samples_ns"]) == 12
    assert record["samples_ns"]  # the inference-only timing is there too
    first = pipeline.first_inputs(real.path_of("zmumu"), {"objects": (1, 32, 4), "met": (1,)}, 8)
    assert first["objects"].shape == (8, 1, 32, 4)
    assert np.count_nonzero(first["objects"][:, 0, :, 1]) == 16  # two muons an event
    # The worker's own inputs come from the file too: a batch larger than it cannot be built.
    too_big = BenchRequest(
        model="event_vae",
        backends=["pytorch"],
        batches=[3000],
        policy=policy,
        data=str(real.path_of("zmumu")),
    )
    (failed,) = run_bench(too_big)
    assert failed["status"] == "error" and "fewer than the batch of 3000" in failed["error"]["message"]
    bad = BenchRequest(model="event_vae", backends=["pytorch"], data="/nonexistent/events.parquet")
    with pytest.raises(DataError, match="does not exist"):
        run_bench(bad)


@pytest.mark.slow
def test_train_and_score_is_seeded_and_cached(one_thread: None) -> None:
    from hepinfer.zoo import entry

    def fresh() -> object:
        return entry("event_vae").build({"R": 32})

    first = train.train_and_score("event_vae", events=8, epochs=2, seed=5, module=fresh())
    assert not first["cached"] and set(first["auc"]) == set(train.SIGNALS)
    assert all(0.0 <= a <= 1.0 for a in [*first["auc"].values(), *first["auc_kl"].values()])
    again = train.train_and_score("event_vae", events=8, epochs=2, seed=5, module=fresh())
    assert again["cached"] and again["auc"] == first["auc"] and again["weights"] == first["weights"]
