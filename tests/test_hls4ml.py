"""hls4ml backend: a real conversion and g++ compile of the C simulation (in the parent), a
worker that only opens the library, agreement with the float model, the precision scan, and
the emulator label on its timing."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FAST_TIMING, run_once
from hepinfer.backends.base import ModelArtifact
from hepinfer.backends.hls4ml import Hls4mlBackend, Hls4mlOptions, fixed_type, settings_of
from hepinfer.convert import hls4ml as convert
from hepinfer.errors import ConfigurationError, HepinferError
from hepinfer.runner.validate.precision import PrecisionScan, integer_bits, recommend
from hepinfer.zoo import build_inputs, entry, model_ref, spec_of

torch = pytest.importorskip("torch")
needs_hls4ml = pytest.mark.skipif(
    Hls4mlBackend.unavailable_reason() is not None,
    reason=f"hls4ml unavailable: {Hls4mlBackend.unavailable_reason()}",
)
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tensorflow.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:keras.*"),
]


def _torch(name: str, params: dict[str, str], x: dict[str, np.ndarray]) -> list[np.ndarray]:
    ref = model_ref(name, params)
    model = entry(name).build(dict(ref.params))
    with torch.no_grad():
        out = model(*[torch.from_numpy(x[t.name]) for t in spec_of(ref).inputs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def test_types_and_options_are_checked() -> None:
    assert fixed_type(16, 6) == "ap_fixed<16,6>"
    assert fixed_type(12, 4, "AP_RND", "AP_SAT") == "ap_fixed<12,4,AP_RND,AP_SAT>"
    with pytest.raises(ConfigurationError, match="integer <= width"):
        fixed_type(8, 9)
    opts = Hls4mlOptions.from_strings("hls4ml", {"width": "10", "layer_precision": "z_mean=18.8"})
    s = settings_of(opts)  # type: ignore[arg-type]
    assert s.precision == "ap_fixed<10,6>" and s.layer_precision == (("z_mean", "ap_fixed<18,8>"),)
    with pytest.raises(ConfigurationError, match=r"LAYER=WIDTH\.INTEGER"):
        settings_of(Hls4mlOptions(layer_precision="z_mean=18"))
    with pytest.raises(ConfigurationError, match="latency, resource"):
        Hls4mlOptions.from_strings("hls4ml", {"strategy": "fast"})


def test_missing_hls4ml_names_the_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HEPINFER_HLS4ML_PYTHON", str(tmp_path / "no-python"))
    reason = Hls4mlBackend.unavailable_reason()
    assert reason is not None and "pip install 'hepinfer[hls4ml]'" in reason


def test_integer_bits_and_recommendation() -> None:
    assert integer_bits([np.array([0.4, -0.2])]) == 1  # |x| < 1: the sign bit only
    assert integer_bits([np.array([78.0]), np.array([-3.0, np.nan])]) == 8  # |x| < 128
    rows = [
        {"width": 8, "integer": 8, "type": "a", "impact": 0.5},
        {"width": 10, "integer": 8, "type": "b", "impact": 0.005},  # below, but 12 is not
        {"width": 12, "integer": 8, "type": "c", "impact": 0.02},
        {"width": 14, "integer": 8, "type": "d", "impact": 0.004},
        {"width": 16, "integer": 8, "type": "e", "impact": 0.0},
    ]
    assert recommend(rows, 0.01) == {"width": 14, "integer": 8, "type": "d", "impact": 0.004}
    assert recommend(rows[:3], 0.01) is None
    with pytest.raises(ConfigurationError, match="widths must be"):
        PrecisionScan(widths=(1, 8)).check()


@pytest.mark.slow
@needs_hls4ml
@pytest.mark.parametrize("variant", ["encoder", "full"])
def test_compiled_c_simulation_agrees_with_the_float_model(variant: str) -> None:
    """l1_ad_vae's Keras twin (encoder: the trigger score; full: three outputs), converted and
    compiled for real; wide types agree closely, narrow ones do not."""
    ref = model_ref("l1_ad_vae", {"variant": variant})
    spec = spec_of(ref)
    x = build_inputs(ref, spec, 64, {}, seed=3)
    want = _torch("l1_ad_vae", {"variant": variant}, x)
    errors = {}
    for width, integer in ((24, 9), (10, 8)):
        artifact = ModelArtifact(ref=ref, spec=spec)
        options = Hls4mlOptions(width=width, integer=integer, rounding="AP_RND", saturation="AP_SAT")
        build = Hls4mlBackend.prebuild(artifact, options, {})
        assert build.compile_s > 0 and build.hls4ml_version.startswith("1.3")
        backend = Hls4mlBackend()
        got = run_once(backend, artifact, options, x)
        assert backend.built_in == "parent"  # load only opened the parent's library
        assert list(got) == [t.name for t in spec.outputs]
        pairs = zip(spec.outputs, want, strict=True)
        errors[width] = max(float(np.abs(got[t.name] - w).max()) for t, w in pairs)
        assert backend.settings()["timing_kind"] == "C simulation (emulator CPU time)"
        assert "needs vendor synthesis" in backend.settings()["fpga"]
    assert errors[24] < 2e-2
    assert errors[10] > 10 * errors[24]  # 2 fractional bits: the answers change


@pytest.mark.slow
@needs_hls4ml
def test_worker_opens_the_library_without_hls4ml_or_keras() -> None:
    import hepinfer

    records = hepinfer.bench("l1_ad_vae", backends=["hls4ml"], batches=[1, 7], **FAST_TIMING)
    assert [r["status"] for r in records] == ["ok", "ok"]
    for r in records:
        assert r["process"]["modules"] == []  # no hls4ml, keras, tensorflow or torch
        build = r["one_off"]["conversion"]["keras_to_hls4ml"]
        assert build["compile_s"] > 0 and build["settings"]["precision"] == "ap_fixed<16,6>"
        assert r["backend"]["settings"]["timing_kind"] == "C simulation (emulator CPU time)"
    # The same library serves every batch: the second configuration found it in the cache.
    assert records[1]["one_off"]["conversion"]["keras_to_hls4ml"]["cached"] is True


@pytest.mark.slow
@needs_hls4ml
def test_precision_scan_gets_better_with_width(tmp_path) -> None:
    from hepinfer.runner import validate

    request = validate.ValidateRequest(
        model="l1_ad_vae",
        backends=["onnxruntime"],
        checks=("agreement",),
        batch_sizes=(64,),
        physics_events=2000,
        precision_scan=PrecisionScan(widths=(8, 12, 16, 20), options={"rounding": "AP_RND"}),
    )
    scan = validate.run_validation(request)["precision_scan"]
    assert scan["integer_bits"] == 8  # leading jets near 80 units: 8 integer bits with the sign
    rows = {r["width"]: r for r in scan["widths"]}
    assert set(rows) == {8, 12, 16, 20}
    assert rows[20]["max_abs"] < rows[12]["max_abs"] < rows[8]["max_abs"]
    assert rows[20]["fraction_within"] > rows[8]["fraction_within"]
    assert rows[20]["impact"] < rows[8]["impact"]
    assert abs(rows[20]["auc_difference"]) < abs(rows[8]["auc_difference"]) + 1e-9
    assert scan["timing_kind"] == "C simulation (emulator CPU time)"
    from hepinfer.report.precision import scan_plot

    assert scan_plot(scan, tmp_path / "scan.png").stat().st_size > 1000


def test_a_model_neither_from_the_zoo_nor_onnx_is_refused(tmp_path) -> None:
    """A user's Keras file is not converted (its ONNX twin is); an ONNX file has no Keras twin."""
    spec = spec_of(model_ref("linear_event"))
    from hepinfer.zoo import ModelRef

    artifact = ModelArtifact(ref=ModelRef(kind="keras", name=str(tmp_path / "mine.keras")), spec=spec)
    with pytest.raises(HepinferError, match=r"hls4ml converts a zoo model .* or an ONNX file"):
        Hls4mlBackend.prebuild(artifact, Hls4mlOptions(), {})
    onnx_file = ModelArtifact(ref=model_ref(str(tmp_path / "mine.onnx")), spec=spec)
    with pytest.raises(HepinferError, match=r"cannot be converted with hls4ml\.frontend=keras"):
        Hls4mlBackend.prebuild(onnx_file, Hls4mlOptions(frontend="keras"), {})


@pytest.mark.slow
@needs_hls4ml
def test_a_model_without_a_keras_twin_goes_through_the_pytorch_front_end() -> None:
    """linear_event (rootbench's Linear_event, no Keras twin): hls4ml's PyTorch front end,
    compiled for real; its outputs agree with the float model within what the fixed-point
    types allow: closely with 15 fractional bits, far worse with 2."""
    ref = model_ref("linear_event")
    spec = spec_of(ref)
    assert "keras" not in ModelArtifact(ref=ref, spec=spec).formats
    x = build_inputs(ref, spec, 64, {}, seed=3)
    (want,) = _torch("linear_event", {}, x)
    errors = {}
    for width, integer in ((24, 9), (10, 8)):
        artifact = ModelArtifact(ref=ref, spec=spec)
        options = Hls4mlOptions(width=width, integer=integer, rounding="AP_RND", saturation="AP_SAT")
        build = Hls4mlBackend.prebuild(artifact, options, {})
        assert build.frontend == "pytorch" and build.torch_version and not build.keras_version
        assert "torch_to_hls4ml" in artifact.conversions
        backend = Hls4mlBackend()
        got = run_once(backend, artifact, options, x)
        assert backend.built_in == "parent"
        assert backend.settings()["frontend"] == "pytorch"
        (out,) = got.values()
        errors[width] = float(np.abs(out.reshape(want.shape) - want).max())
    scale = float(np.abs(want).max())
    assert errors[24] < 1e-2 * scale  # 15 fractional bits: 1/100 of the largest output
    assert errors[10] > 10 * errors[24]  # 2 fractional bits: the answers change


def test_cli_refuses_a_bad_scan(capsys: pytest.CaptureFixture[str]) -> None:
    from hepinfer.cli.main import main

    assert main(["validate", "l1_ad_vae", "--precision-scan", "1-4"]) == 1
    err = capsys.readouterr().err
    assert "widths must be 2..64 bits" in err and "Traceback" not in err
    _ = convert  # the converter module imports without hls4ml


@pytest.mark.slow
@pytest.mark.shared
@needs_hls4ml
def test_an_onnx_file_goes_through_the_onnx_front_end(shared_models) -> None:
    """rootbench's Linear_event: qonnx's clean-up, hls4ml's ONNX front end, the C simulation
    compiled in the parent; the record names the front end and agrees with ONNX Runtime within
    what ap_fixed<24,9> allows."""
    import hepinfer

    pytest.importorskip("onnxruntime")
    path = str(shared_models / "rootbench/Linear_event.onnx")
    options = {"width": "24", "integer": "9", "rounding": "AP_RND", "saturation": "AP_SAT"}
    records = hepinfer.bench(
        path,
        backends=["onnxruntime", "hls4ml"],
        options={"hls4ml": {k: [v] for k, v in options.items()}},
        **FAST_TIMING,
    )
    assert [r["status"] for r in records] == ["ok", "ok"], [r.get("error") for r in records]
    hls = records[1]
    build = hls["one_off"]["conversion"]["onnx_to_hls4ml"]
    assert build["frontend"] == "onnx" and build["hls4ml_version"].startswith("1.3")
    assert build["qonnx_version"] == "1.0.0" and build["onnx_file"] == path
    assert build["settings"]["precision"] == "ap_fixed<24,9,AP_RND,AP_SAT>" and build["compile_s"] > 0
    assert (
        hls["backend"]["settings"]["frontend"] == "onnx"
        and hls["backend"]["settings"]["built_in"] == "parent"
    )
    assert hls["process"]["modules"] == []
    agreement = hls["agreement"]
    assert agreement["reference"]["backend"] == "onnxruntime"
    (out,) = agreement["outputs"].values()
    # 15 fractional bits on outputs of order 0.3: far inside 1e-2, not bitwise.
    assert 0.0 < out["max_abs"] < 1e-2


@pytest.mark.slow
@needs_hls4ml
def test_an_operator_the_onnx_front_end_cannot_parse_is_named() -> None:
    """l1_ad_vae's export with hls4ml.frontend=onnx: its score's ReduceSum has no parser in
    hls4ml 1.3's ONNX front end; one line names it, and bench's record carries it."""
    import hepinfer
    from hepinfer.errors import ConversionError

    ref = model_ref("l1_ad_vae")
    artifact = ModelArtifact(ref=ref, spec=spec_of(ref))
    with pytest.raises(ConversionError) as err:
        Hls4mlBackend.prebuild(artifact, Hls4mlOptions(frontend="onnx"), {})
    line = str(err.value)
    assert line.startswith("hls4ml's ONNX front end cannot convert l1_ad_vae at operator ReduceSum (node ")
    assert (
        line.endswith("after qonnx's clean-up; hls4ml 1.3.0 has no ONNX parser for it)") and "\n" not in line
    )
    (record,) = hepinfer.bench(
        "l1_ad_vae", backends=["hls4ml"], options={"hls4ml": {"frontend": ["onnx"]}}, **FAST_TIMING
    )
    assert record["status"] == "error" and "at operator ReduceSum" in record["error"]["message"]
