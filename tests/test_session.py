"""hepinfer.Session: jagged inputs padded like the data builders, threads, pools, round trips."""

from __future__ import annotations

import threading
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

import hepinfer
from hepinfer.data import builders, generate
from hepinfer.data.schema import delta_phi
from hepinfer.errors import ConfigurationError, ModelInputError
from hepinfer.session import Session, model_inputs
from hepinfer.zoo import build_inputs, entry


@pytest.fixture(scope="module")
def events() -> ak.Array:
    """Pythia 8 + fastjet QCD events of the data module (cached), with AK8 jets and constituents."""
    return generate.generate("qcd", 12, seed=7)


def _stack(*parts: ak.Array) -> ak.Array:
    """[.., var particles] arrays -> [.., var particles, len(parts)] (particle-major)."""
    return ak.concatenate([p[..., np.newaxis] for p in parts], axis=-1)


def _relative(events: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array]:
    fat = events.fatjets[:, :2]  # the two leading AK8 jets, per event: [events, var jets]
    c = fat.constituents
    return c.eta - fat.eta, delta_phi(c.phi, fat.phi), c


def test_jagged_padding_equals_the_data_builders(events: ak.Array) -> None:
    deta, dphi, c = _relative(events)
    jets = builders.leading_fatjets(events)
    # jet_vae [J,100,3]: [events, var jets, var particles, 3] flattened over events, padded.
    feeds, per_event = model_inputs(entry("jet_vae").spec({}), {}, {"jet": _stack(deta, dphi, c.pt)})
    np.testing.assert_array_equal(feeds["jet"], builders.jet_vae_inputs(jets)["jet"])
    np.testing.assert_array_equal(per_event, ak.to_numpy(ak.num(events.fatjets[:, :2])))
    # ParticleNet [J,2,n_pf]: particle-major lists moved to the model's axis; the mask is made
    # from the counts; numpy inputs pass as they are.
    spec = entry("particlenet").spec({"variant": "general", "k": 0})
    want = builders.particlenet_inputs(jets, particles=100, vertices=10)
    flip = np.sign(events.fatjets[:, :2].eta + 1e-12)
    given = {"pf_points": _stack(deta * flip, dphi)}
    given |= {k: want[k] for k in ("pf_features", "sv_points", "sv_features", "sv_mask")}
    feeds, _ = model_inputs(spec, {"n_pf": 100, "n_sv": 10}, given)
    np.testing.assert_array_equal(feeds["pf_points"], want["pf_points"])
    np.testing.assert_array_equal(feeds["pf_mask"], want["pf_mask"])
    assert feeds["pf_features"] is want["pf_features"]  # numpy of the right dtype: no copy


def test_bad_inputs_are_one_line_errors(events: ak.Array, tmp_path: Path) -> None:
    deta, dphi, c = _relative(events)
    spec = entry("jet_vae").spec({})
    with pytest.raises(ModelInputError, match="no such input"):
        model_inputs(spec, {}, {"jets": _stack(deta, dphi, c.pt)})
    with pytest.raises(ModelInputError, match="takes jet"):
        model_inputs(spec, {}, {"jet": _stack(deta, dphi)})  # 2 features for 3
    with pytest.raises(ModelInputError, match="missing"):
        model_inputs(entry("particlenet").spec({"variant": "lite", "k": 0}), {"n_pf": 16}, {})
    with pytest.raises(ConfigurationError, match="cannot read deploy document"):
        Session.from_config(Path(__file__).parent / "conftest.py")
    (tmp_path / "results.json").write_text('{"schema_version": 2}')
    with pytest.raises(ConfigurationError, match="not a deploy document"):
        Session.from_config(tmp_path / "results.json")


@pytest.mark.slow
def test_awkward_round_trip_gives_scores_in_the_jagged_layout(events: ak.Array) -> None:
    deta, dphi, c = _relative(events)
    session = hepinfer.Session("particlenet", params={"variant": "lite"}, dims={"n_pf": 16})
    features = _stack(deta, dphi, np.log(c.pt), np.log(c.e), c.charge, deta * deta, dphi * dphi)
    inputs = {"pf_points": _stack(deta, dphi), "pf_features": features}
    scores = session(inputs)["softmax"]
    assert isinstance(scores, ak.Array)
    assert ak.to_list(ak.num(scores, axis=1)) == ak.to_list(ak.num(events.fatjets[:, :2]))
    # The same jets as one padded numpy batch: the jagged scores are those, row for row.
    flat, _ = model_inputs(session.spec, session.dims, inputs)
    direct = session(flat)["softmax"]
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(scores, axis=1)), direct)
    assert np.allclose(direct.sum(axis=1), 1.0, atol=1e-5)
    # Event i, jet j is row (jets before event i) + j of the flat batch.
    assert ak.to_list(scores[3][1]) == direct[2 * 3 + 1].tolist()
    # In calls of at most 5 jets (the last one shorter), the same scores.
    chunked = Session("particlenet", params={"variant": "lite"}, dims={"n_pf": 16}, batch=5)(inputs)
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(chunked["softmax"], axis=1)), direct, atol=1e-6)


def _serial_and_threaded(session: Session, n_threads: int, calls: int) -> tuple[list, list]:
    spec = session.spec
    sets = [build_inputs(session.ref, spec, 16, session.dims, seed) for seed in range(n_threads)]
    serial = [session(s)["output"] for s in sets]
    got: list = [None] * n_threads
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(calls):
                got[i] = session(sets[i])["output"]
        except BaseException as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return serial, got


@pytest.mark.slow
def test_several_threads_share_one_session_where_the_backend_allows() -> None:
    session = Session("linear_event", backend="onnxruntime")
    assert session.shared
    serial, threaded = _serial_and_threaded(session, 6, 30)
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert session.instances == 1


@pytest.mark.slow
def test_a_backend_that_is_not_shareable_gets_a_pool(test_backends: str) -> None:
    # NotShareable raises when two threads are inside one instance at once (each call sleeps).
    session = Session("linear_event", backend=f"{test_backends}:NotShareable", pool=3)
    assert not session.shared
    serial, threaded = _serial_and_threaded(session, 6, 5)
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert 2 <= session.instances <= 3


def test_numpy_calls_on_onnxruntime_go_straight_to_session_run() -> None:
    # The Session's per-call work on the fast path (numpy inputs by the model's names, dtypes,
    # C-contiguous): one pass over the inputs, then InferenceSession.run on them as they are;
    # no prepare (its input check, copies) and no fetch on top.
    session = Session("linear_event", backend="onnxruntime")
    backend = session._first
    feeds = build_inputs(session.ref, session.spec, 16, session.dims, seed=3)
    names = [o.name for o in backend.session.get_outputs()]
    raw = dict(zip(names, backend.session.run(names, feeds), strict=True))

    def refuse(*_: object) -> None:
        raise AssertionError("prepare/fetch called on the Session's fast path")

    backend.prepare = refuse
    backend.fetch = refuse
    out = session(feeds)
    assert sorted(out) == sorted(raw)
    for k in raw:
        np.testing.assert_array_equal(out[k], raw[k])
    # Inputs the fast path does not take (not C-contiguous, another dtype) are made ready first
    # and give the same outputs.
    name = next(iter(feeds))
    other = dict(feeds)
    other[name] = np.asfortranarray(feeds[name]) if feeds[name].ndim > 1 else feeds[name][::1]
    assert other[name].ndim == 1 or not other[name].flags.c_contiguous
    for k, v in session(other).items():
        np.testing.assert_array_equal(v, raw[k])
    other[name] = feeds[name].astype(np.float64)
    for k, v in session(other).items():
        np.testing.assert_allclose(v, raw[k], rtol=1e-6)


def test_a_session_with_a_batch_calls_ready_inputs_directly_and_chunks_the_rest() -> None:
    # The fast path with ``batch`` (what from_config sets): ready inputs within the batch go
    # to InferenceSession.run as they are, in one call; more rows are chunked, same outputs.
    session = Session("linear_event", backend="onnxruntime", batch=16)
    ort = session._first.session
    feeds = build_inputs(session.ref, session.spec, 40, session.dims, seed=4)
    names = [o.name for o in ort.get_outputs()]
    raw = dict(zip(names, ort.run(names, feeds), strict=True))
    calls: list[int] = []
    plain = ort.run

    def counted(output_names: list[str], inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        calls.append(next(iter(inputs.values())).shape[0])
        return plain(output_names, inputs)

    ort.run = counted
    session._direct = session._first.caller()  # the caller binds session.run once: bind the spy
    small = {k: v[:16] for k, v in feeds.items()}
    for k, v in session(small).items():
        np.testing.assert_array_equal(v, raw[k][:16])
    assert calls == [16]
    calls.clear()
    for k, v in session(feeds).items():
        np.testing.assert_array_equal(v, raw[k])
    assert calls == [16, 16, 8]


def test_a_model_with_several_outputs_gets_each_by_name() -> None:
    # The bound caller's other branch: every output, by its name, as the session gives them.
    session = Session("jet_vae", backend="onnxruntime")
    ort = session._first.session
    names = [o.name for o in ort.get_outputs()]
    assert len(names) > 1
    feeds = build_inputs(session.ref, session.spec, 3, session.dims, seed=1)
    got = session(feeds)
    assert list(got) == names
    for name, want in zip(names, ort.run(names, feeds), strict=True):
        np.testing.assert_array_equal(got[name], want)
