"""Agreement, ULP distances and physics parity on arrays with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.measure import physics
from hepinfer.measure.agreement import Tolerance, compare, compare_output, describe, tolerance
from hepinfer.measure.ulp import ulp_distance
from hepinfer.report.verdicts import agreement_cell, flag


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


# --- bitwise "identical", equal values that are not bitwise ----------------------------------


def test_signed_zeros_are_equal_values_not_identical() -> None:
    ref = np.array([[0.0, 1.0], [0.0, 0.0], [2.0, 0.0]], np.float32)
    got = ref.copy()
    got[1, 0] = got[1, 1] = got[2, 1] = -0.0
    s = compare({"y": ref}, {"y": got})
    assert s["verdict"] == "equal values, not bitwise"
    o = s["outputs"]["y"]
    assert o["not_bitwise"]["signed_zeros"] == 3 and o["not_bitwise"]["elements"] == 3
    assert o["max_abs"] == 0.0 and o["ulp_max"] == 0  # equal values: 0 apart, but not the same bits
    # The first element whose bits differ is located.
    assert (s["worst"]["event"], s["worst"]["index"]) == (1, [0])
    assert describe(s) == "equal values, not bitwise: y 3 signed zeros differ"
    assert flag(s, 2.0) == "(=)"
    assert agreement_cell(s) == "equal, not bitwise (y 3 signed zeros differ)"
    # The same bits are identical.
    assert compare({"y": ref}, {"y": ref.copy()})["verdict"] == "identical"


def test_another_dtype_with_equal_values_is_not_identical() -> None:
    ref = _ref()
    s = compare({"y": ref}, {"y": ref.astype(np.float64)})
    assert s["verdict"] == "equal values, not bitwise"
    o = s["outputs"]["y"]
    assert (o["dtype"], o["ref_dtype"]) == ("float64", "float32")
    assert s["not_bitwise"] == {"y": "dtype float64 vs reference float32"}
    assert s["worst"] == {"output": "y", "reason": "dtype float64 vs reference float32"}
    # Values that differ as well: the tolerance decides, and the dtype is still recorded.
    off = ref.astype(np.float64) + 1e-9
    o = compare({"y": ref}, {"y": off})["outputs"]["y"]
    assert o["verdict"] == "within tolerance" and o["dtype"] == "float64"


def test_nan_payloads_are_compared_as_bits() -> None:
    quiet = np.array([np.nan, 1.0], np.float32)
    other = quiet.copy()
    other.view(np.uint32)[0] |= 1  # another NaN payload
    assert np.isnan(other[0])
    s = compare({"y": quiet}, {"y": other})
    assert s["verdict"] == "equal values, not bitwise"
    assert s["outputs"]["y"]["not_bitwise"]["nan_payloads"] == 1
    assert s["not_bitwise"] == {"y": "1 NaN payload differs"}
    assert compare({"y": quiet}, {"y": quiet.copy()})["verdict"] == "identical"


def test_equal_not_bitwise_ranks_between_identical_and_within_tolerance() -> None:
    ref = np.zeros((4, 2), np.float32)
    neg = -ref
    one_ulp = ref + np.float32(1e-30)
    s = compare({"a": ref, "b": ref}, {"a": neg, "b": ref})
    assert (s["verdict"], s["outputs"]["b"]["verdict"]) == ("equal values, not bitwise", "identical")
    assert compare({"a": ref, "b": ref}, {"a": neg, "b": one_ulp})["verdict"] == "within tolerance"


# --- ULPs in the units of the precision compared ---------------------------------------------


def test_bfloat16_ulps_count_bfloat16_steps() -> None:
    one = np.array([1.0, 1.0, -2.0, 0.0], np.float32)
    # 1 -> the next bfloat16 (1 + 2**-7); 1 -> 2 is 128 steps (7-bit mantissa); -2 -> -2 (0);
    # 0 -> the smallest bfloat16 subnormal (2**-133).
    nxt = np.array([1.0078125, 2.0, -2.0, 2.0**-133], np.float32)
    assert ulp_distance(one, nxt, "bfloat16").tolist() == [1, 128, 0, 1]
    assert ulp_distance(one, nxt).tolist()[:2] == [2**16, 2**23]  # the same pairs in float32 ULPs
    # Both are rounded to bfloat16 first (nearest, ties to even): within half a step is 0.
    assert ulp_distance(np.array([1.0]), np.array([1.0 + 2.0**-9]), "bfloat16").tolist() == [0]
    assert ulp_distance(np.array([1.0]), np.array([1.0 + 2.0**-8 + 2.0**-30]), "bfloat16").tolist() == [1]


def test_bfloat16_rounding_matches_ml_dtypes_on_float32() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    from hepinfer.measure.ulp import round_bfloat16

    rng = np.random.default_rng(5)
    x = (rng.normal(size=20000) * 10.0 ** rng.integers(-40, 39, 20000)).astype(np.float32)
    x = np.concatenate([x, np.array([0.0, -0.0, 3.4e38, -3.4e38, np.inf], np.float32)])
    ours = round_bfloat16(x).view(np.uint32)
    theirs = x.astype(ml_dtypes.bfloat16).astype(np.float32).view(np.uint32)
    assert np.array_equal(ours, theirs)


def test_compare_counts_ulps_in_the_unit_asked_and_says_which() -> None:
    ref = _ref()
    got = ref.copy()
    got[4, 2] = np.float32(float(ref[4, 2]) * (1 + 2**-7))  # about one bfloat16 step
    bf = compare({"y": ref}, {"y": got}, "bf16", ulp_unit="bfloat16")
    f32 = compare({"y": ref}, {"y": got}, "bf16")
    assert (bf["ulp_unit"], bf["outputs"]["y"]["ulp_unit"]) == ("bfloat16", "bfloat16")
    assert 1 <= bf["outputs"]["y"]["ulp_max"] <= 2
    assert f32["outputs"]["y"]["ulp_unit"] == "float32" and f32["outputs"]["y"]["ulp_max"] > 30000
    assert "ULP bfloat16" in agreement_cell(bf) and "ULP float32" in agreement_cell(f32)
    assert f"max {bf['outputs']['y']['ulp_max']} ULP bfloat16" in describe({**bf, "verdict": "different"})
    with pytest.raises(ConfigurationError, match="ULP unit"):
        compare({"y": ref}, {"y": got}, ulp_unit="float8")  # type: ignore[arg-type]


def test_ulp_unit_of_a_backend_is_the_precision_it_computes_in() -> None:
    from hepinfer.measure.agreement import ulp_unit_for

    # What OpenVINO's compiled model reports wins over what was asked for.
    ov = {"requested": {"INFERENCE_PRECISION_HINT": "bf16"}, "inference_precision_hint": "<Type: 'bfloat16'>"}
    assert ulp_unit_for({"precision": "bf16"}, ov) == "bfloat16"
    fell_back = {
        "requested": {"INFERENCE_PRECISION_HINT": "f16"},
        "inference_precision_hint": "<Type: 'float32'>",
    }
    assert ulp_unit_for({"precision": "f16"}, fell_back) == "float32"
    assert ulp_unit_for({"precision": "f16"}) == "float16"
    assert ulp_unit_for({}, {"precision": "fp16", "tensorrt": "10.0"}) == "float16"  # TensorRT
    assert ulp_unit_for({}, {}, "bf16") == "bfloat16"  # the comparison declares bf16
    assert ulp_unit_for({"optimization": "disable"}, {"num_threads": 1}, "fp32") is None
