"""Agreement, ULP distances and physics parity on arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.measure import physics
from hepinfer.measure.agreement import Tolerance, compare, compare_output, describe, tolerance
from hepinfer.measure.ulp import ulp_distance
from hepinfer.report.table import agreement_cell, flag


def _ref(shape: tuple[int, ...] = (32, 5), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --- ULP --------------------------------------------------------------------------------------


def test_ulp_distance_known_values() -> None:
    one = np.float32(1.0)
    up = np.nextafter(one, np.float32(2))
    a = np.array([1.0, 0.0, -0.0, -1.0, 1.0, 2.0], np.float32)
    b = np.array([up, -0.0, np.nextafter(np.float32(0), np.float32(1)), -1.0, 2.0, 1.0], np.float32)
    # 1 -> 2 spans one full binade of 2**23 float32 values.
    assert ulp_distance(a, b).tolist() == [1, 0, 1, 0, 2**23, 2**23]


def test_ulp_distance_across_zero_and_float16() -> None:
    tiny = np.nextafter(np.float32(0), np.float32(1))
    assert ulp_distance(np.array([-tiny]), np.array([tiny])).tolist() == [2]
    h = np.array([1.0], np.float16)
    assert ulp_distance(h, np.nextafter(h, np.float16(2)) * 1).tolist() == [1]
    # 1 -> 2 in float16: 2**10 steps (10-bit mantissa).
    assert ulp_distance(h, np.array([2.0], np.float16)).tolist() == [1024]


def test_ulp_distance_nan_is_left_to_the_nan_count() -> None:
    a = np.array([1.0, np.nan], np.float32)
    b = np.array([np.nan, 1.0], np.float32)
    assert ulp_distance(a, b).tolist() == [0, 0]


def test_ulp_distance_rejects_integers() -> None:
    with pytest.raises(TypeError):
        ulp_distance(np.array([1], np.int32), np.array([2], np.int32), np.dtype(np.int32))


# --- compare ----------------------------------------------------------------------------------


def test_identical_outputs() -> None:
    ref = _ref()
    s = compare({"y": ref}, {"y": ref.copy()})
    assert s["verdict"] == "identical"
    o = s["outputs"]["y"]
    assert o["ulp_max"] == 0 and o["max_abs"] == 0.0 and o["fraction_within"] == 1.0
    assert "worst" not in s


def test_one_ulp_is_within_tolerance_and_located() -> None:
    ref = _ref()
    got = ref.copy()
    got[11, 3] = np.nextafter(got[11, 3], np.float32(np.inf))
    s = compare({"y": ref}, {"y": got})
    assert s["verdict"] == "within tolerance"
    o = s["outputs"]["y"]
    assert o["ulp_max"] == 1 and o["ulp_median"] == 0.0
    assert o["max_abs"] == pytest.approx(abs(float(got[11, 3]) - float(ref[11, 3])))
    assert s["worst"] == {
        "output": "y",
        "event": 11,
        "index": [3],
        "ref": float(ref[11, 3]),
        "got": float(got[11, 3]),
    }


def test_every_element_shifted_one_ulp_has_median_one() -> None:
    ref = _ref()
    got = np.nextafter(ref, np.float32(np.inf))
    o = compare({"y": ref}, {"y": got})["outputs"]["y"]
    assert o["ulp_median"] == 1.0 and o["ulp_max"] == 1


def test_beyond_tolerance_is_different_and_the_worst_is_the_furthest() -> None:
    ref = _ref((8, 3, 4))
    got = ref.copy()
    got[2, 1, 0] += 1e-3  # outside fp32 tolerance
    got[6, 2, 3] += 1e-2  # further outside
    s = compare({"a": ref, "b": ref}, {"a": ref, "b": got})
    assert s["verdict"] == "different"
    assert s["outputs"]["a"]["verdict"] == "identical"
    assert s["worst"]["output"] == "b"
    assert (s["worst"]["event"], s["worst"]["index"]) == (6, [2, 3])
    assert s["outputs"]["b"]["fraction_within"] == pytest.approx(1 - 2 / ref.size)


def test_new_nan_and_inf_are_counted_and_located() -> None:
    ref = _ref()
    got = ref.copy()
    got[5, :] = np.nan
    got[9, 2] = np.inf
    o = compare_output(ref, got, tolerance("fp32"))
    assert o["verdict"] == "different"
    assert (o["nan"], o["inf"]) == (5, 1)
    assert o["worst"]["event"] == 5  # the first non-finite element in memory order
    # NaN where the reference has NaN is agreement, not a new NaN.
    ref2 = ref.copy()
    ref2[5, :] = np.nan
    o2 = compare_output(ref2, np.where(np.isnan(ref2), np.nan, ref2).astype(np.float32), tolerance("fp32"))
    assert o2["verdict"] == "identical" and o2["nan"] == 0


def test_argmax_flips() -> None:
    ref = np.array([[0.9, 0.1], [0.4, 0.6], [0.5001, 0.4999], [0.2, 0.8]], np.float32)
    got = ref.copy()
    got[2] = [0.4999, 0.5001]
    s = compare({"p": ref}, {"p": got}, argmax=["p"])
    assert s["outputs"]["p"]["argmax_flips"] == pytest.approx(0.25)
    assert "argmax_flips" not in compare({"p": ref}, {"p": got})["outputs"]["p"]


def test_per_precision_tolerances_and_overrides() -> None:
    ref = np.ones((4, 4), np.float32)
    got = ref + np.float32(5e-3)
    assert compare({"y": ref}, {"y": got}, "fp32")["verdict"] == "different"
    assert compare({"y": ref}, {"y": got}, "fp16")["verdict"] == "within tolerance"
    assert compare({"y": ref}, {"y": got}, tol=tolerance("fp32", rtol=1e-2))["verdict"] == "within tolerance"
    assert tolerance("bf16", atol=0.5) == Tolerance(rtol=2e-2, atol=0.5)
    with pytest.raises(ConfigurationError, match="precision"):
        tolerance("fp8")
    with pytest.raises(ConfigurationError, match="rtol"):
        tolerance("fp32", rtol=-1)


def test_shape_mismatch_and_missing_output() -> None:
    ref = _ref()
    s = compare({"y": ref, "z": ref}, {"y": ref[:5]})
    assert s["verdict"] == "different"
    assert "shape" in s["outputs"]["y"]["reason"]
    assert s["outputs"]["z"]["reason"] == "output missing"


def test_summary_is_compact_and_described() -> None:
    ref = _ref((256, 10))
    got = ref.copy()
    got[100, 7] = np.nan
    s = compare({"y": ref}, {"y": got})
    import json

    assert len(json.dumps(s)) < 1000  # goes into every bench record
    text = describe(s)
    assert "different" in text and "event 100" in text and "[7]" in text and "1 new NaN" in text


def test_bench_table_marks_fast_but_different() -> None:
    ref = _ref()
    got = ref + np.float32(1.0)
    s = compare({"y": ref}, {"y": got})
    assert "✗!" in flag(s, 2.0) and "✗!" not in flag(s, 0.5) and "✗" in flag(s, 0.5)
    assert flag(compare({"y": ref}, {"y": ref}), 2.0) == "="
    assert "DIFFERENT" in agreement_cell(s)


# --- physics ----------------------------------------------------------------------------------


def test_ks_distance_known_answers() -> None:
    a = np.arange(10.0)
    assert physics.ks_distance(a, a) == 0.0
    assert physics.ks_distance(a, a + 100) == 1.0
    assert physics.ks_distance(np.array([1.0, 2.0]), np.array([2.0, 3.0])) == 0.5


def test_ks_and_auc_agree_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(0.7, 1, 1500), 1)  # rounded: many ties
    b = np.round(rng.normal(0.0, 1, 2000), 1)
    assert physics.ks_distance(s, b) == pytest.approx(stats.ks_2samp(s, b).statistic, abs=1e-12)
    u = stats.mannwhitneyu(s, b).statistic
    assert physics.roc_auc(s, b) == pytest.approx(u / (s.size * b.size), abs=1e-12)


def test_auc_known_answers() -> None:
    assert physics.roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert physics.roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0
    assert physics.roc_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    # Two unit Gaussians one sigma apart: AUC = Phi(1/sqrt 2) = 0.7602.
    rng = np.random.default_rng(0)
    auc = physics.roc_auc(rng.normal(1, 1, 20000), rng.normal(0, 1, 20000))
    assert auc == pytest.approx(0.7602, abs=0.006)


def test_parity_flips_at_the_working_point() -> None:
    rng = np.random.default_rng(1)
    sig, bkg = rng.normal(2, 1, 5000), rng.normal(0, 1, 5000)
    same = physics.parity(sig, bkg, sig.copy(), bkg.copy())
    assert same["ks_signal"] == 0 and same["auc_difference"] == 0 and same["selection_flips"] == 0
    assert same["events"] == 10000
    assert np.mean(bkg > same["working_point"]["cut"]) == pytest.approx(0.01, abs=0.001)
    # Shift every score up by 0.5: events just below the cut now pass.
    shifted = physics.parity(sig, bkg, sig + 0.5, bkg + 0.5)
    cut = shifted["working_point"]["cut"]
    expect = np.count_nonzero((np.r_[sig, bkg] > cut - 0.5) & (np.r_[sig, bkg] <= cut))
    assert shifted["selection_flips"] == expect > 0
    assert shifted["auc_difference"] == pytest.approx(0.0, abs=1e-12)
    assert shifted["ks_background"] > 0.15


def test_vae_score_is_reconstruction_loss() -> None:
    from hepinfer.zoo import entry

    spec = entry("event_vae").spec({"R": 32})
    x = np.zeros((3, 1, 32, 4), np.float32)
    rec = x.copy()
    rec[1, 0, 0, 0] = 2.0
    out = {"reconstruction": rec, "z_mean": np.zeros((3, 15)), "z_log_var": np.zeros((3, 15))}
    score = physics.scores(spec, {"objects": x, "met": np.zeros((3, 1), np.float32)}, out)
    assert score.tolist() == [0.0, 4.0 / (32 * 4), 0.0]
    assert "reconstruction loss" in physics.score_kind(spec)
