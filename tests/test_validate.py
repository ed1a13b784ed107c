"""hepinfer validate end to end: broken backends in worker processes are caught and located."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import validate_backends as vb
from hepinfer.cli.main import main
from hepinfer.results import jsonl
from hepinfer.results.record import Record
from hepinfer.runner import validate
from hepinfer.runner.validate import analysis, reproducibility
from hepinfer.zoo import entry, model_ref, spec_of
from hepinfer.zoo.onnx_file import spec_from_onnx

TESTS = Path(__file__).resolve().parent
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny tagger, with tests/ on the workers' PYTHONPATH so they find the backends."""
    path = vb.tiny_tagger(tmp_path_factory.mktemp("model") / "tiny_tagger.onnx")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
        yield path


def _request(model: Path, **kw: Any) -> validate.ValidateRequest:
    base: dict[str, Any] = dict(
        model=str(model),
        dims={"n_p": 12},
        batch_sizes=(16, 64),
        alone=(0, 5),
        padded_events=16,
        physics_events=600,
        physics_chunk=100,
        timeout_s=120,
    )
    base.update(kw)
    return validate.ValidateRequest(**base)


@pytest.fixture(scope="module")
def broken(tiny: Path) -> dict[str, Any]:
    """One validation of the three broken backends and a healthy one (5 worker processes)."""
    request = _request(
        tiny,
        backends=[
            "onnxruntime",
            "validate_backends:PerturbBackend",
            "validate_backends:NanOnPaddedBackend",
            "validate_backends:BatchVariantBackend",
        ],
        checks=["agreement", "repeat", "batch", "physics"],
    )
    report = validate.run_validation(request)
    report["request"] = request
    report["by"] = {b["backend"].rpartition(":")[2]: b for b in report["backends"]}
    return report


@pytest.mark.slow
def test_healthy_backend_is_identical(broken: dict[str, Any]) -> None:
    ref = broken["by"]["onnxruntime"]
    assert ref["role"] == "reference" and ref["verdict"] == "reference"
    assert ref["reproducibility"]["repeat"]["answer"] == "yes"
    assert ref["reproducibility"]["batch_invariance"]["answer"] == "yes"
    # --backend onnxruntime equals the reference, so it is validated once, as the reference.
    assert [b["backend"] for b in broken["backends"]].count("onnxruntime") == 1
    assert set(ref.get("sets", {})) == set()


@pytest.mark.slow
def test_one_ulp_perturbation_is_caught_and_located(broken: dict[str, Any]) -> None:
    b = broken["by"]["PerturbBackend"]
    assert b["verdict"] == "within tolerance"
    assert b["worst"]["output"] == "prob"
    assert (b["worst"]["event"], b["worst"]["index"]) == (vb.PERTURBED_EVENT, [vb.PERTURBED_INDEX])
    assert b["worst"]["got"] == float(np.nextafter(np.float32(b["worst"]["ref"]), np.float32(np.inf)))
    for name, s in b["sets"].items():
        o = s["outputs"]["prob"]
        if name == "batch1" or name.startswith("alone"):  # one event: event 3 is not there
            assert s["verdict"] == "identical"
        else:
            assert (s["verdict"], o["ulp_max"], o["nan"]) == ("within tolerance", 1, 0), name
    p = b["physics"]
    assert p["selection_flips"] <= 1 and abs(p["auc_difference"]) < 1e-3
    assert p["events"] == 600


@pytest.mark.slow
def test_nan_on_padded_events_is_caught_and_located(broken: dict[str, Any]) -> None:
    b = broken["by"]["NanOnPaddedBackend"]
    assert b["verdict"] == "different"
    assert b["worst"]["got"] != b["worst"]["got"]  # NaN
    request = broken["request"]
    ref = model_ref(request.model)
    spec = spec_of(ref)
    sets = {s.name: s for s in validate.input_sets(request, ref, spec, dict(request.dims))}
    for name in ("padded", "single", "realistic"):
        few = sets[name].inputs["mask"].sum(axis=-1) <= vb.NAN_AT_MOST
        o = b["sets"][name]["outputs"]["prob"]
        assert o["nan"] == 2 * int(few.sum()), name
        if few.any():
            assert b["sets"][name]["worst"]["event"] == int(np.argmax(few)), name
    assert b["sets"]["single"]["outputs"]["prob"]["nan"] == 2 * 16  # every event has one particle
    assert b["sets"]["padded"]["worst"]["event"] == 0
    assert b["physics"]["nonfinite_scores"] > 0
    # Its own outputs are flagged per input set, whoever the reference is.
    assert b["nonfinite"]["single"] == 2 * 16 and "padded" in b["nonfinite"]
    assert broken["by"]["onnxruntime"]["nonfinite"] == {}


@pytest.mark.slow
def test_batch_variance_is_caught_and_located(broken: dict[str, Any]) -> None:
    b = broken["by"]["BatchVariantBackend"]
    inv = b["reproducibility"]["batch_invariance"]
    assert inv["answer"] == "no"
    assert inv["worst"]["where"].endswith("in batch64")  # the largest batch shifts most
    assert inv["max_abs"] == pytest.approx(vb.BATCH_SHIFT * 63, rel=1e-3)
    assert b["verdict"] == "different"
    assert b["sets"]["batch1"]["verdict"] == "identical"
    assert b["sets"]["realistic"]["verdict"] == "different"
    # Same input twice still gives the same (wrong) answer: run-to-run is not the bug here.
    assert b["reproducibility"]["repeat"]["answer"] == "yes"


@pytest.mark.slow
def test_cli_run_to_run_and_isa_note(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text('{"not": "a record"}\n')  # --out appends: what the file held stays
    code = main(
        [
            "validate",
            str(tiny),
            "--dim",
            "n_p=12",
            "--backend",
            "validate_backends:NanOnPaddedBackend",
            "--checks",
            "agreement,repeat,rerun,isa",
            "--batch-sizes",
            "16",
            "--out",
            str(out),
        ]
    )
    assert code == 1  # a backend differs
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == {"not": "a record"}
    rec = Record.from_dict(json.loads(lines[1]))
    assert rec.kind == "validate" and rec.key.backend == "onnxruntime,validate_backends:NanOnPaddedBackend"
    report = rec.extra["validate"]
    ref, nan = report["backends"]
    assert ref["reproducibility"]["rerun"]["answer"] == "yes"
    assert ref["reproducibility"]["repeat"]["answer"] == "yes"
    assert ref["reproducibility"]["isa"]["answer"] == "n/a"
    assert "MLAS_DYNAMIC_CPU_ARCH" in ref["reproducibility"]["isa"]["reason"]
    assert ref["reproducibility"]["isa"]["instead"] == {"repeat": "yes", "rerun": "yes"}
    assert nan["verdict"] == "different"
    printed = " ".join(capsys.readouterr().out.split())  # the tables wrap at 80 columns
    assert "NanOnPaddedBackend worst: realistic prob event" in printed and "got nan" in printed


@pytest.mark.slow
def test_a_worker_dying_on_a_later_set_keeps_the_sets_before(tiny: Path) -> None:
    report = validate.run_validation(
        _request(tiny, backends=["validate_backends:CrashOnSingleBackend"], checks=["agreement"])
    )
    ref, crash = report["backends"]
    assert ref["verdict"] == "reference"
    sets = crash["sets"]
    assert sets["realistic"]["verdict"] == "identical" and sets["padded"]["verdict"] == "identical"
    assert sets["single"]["verdict"] == "error"
    assert sets["single"]["reason"].startswith(
        "the worker failed on this set: worker killed (out of memory, or by a user) (SIGKILL)"
    )
    assert sets["batch1"]["reason"].startswith("not run: the worker failed earlier, on single")
    assert set(crash["failed_sets"]) == {"single", "batch1", "batch7"}
    assert crash["verdict"] == "different" and crash["error"].startswith("the worker failed on single")
    from rich.console import Console

    from hepinfer.report.validate import validate_tables

    console = Console(record=True, width=250)
    console.print(validate_tables(report)[0])
    text = " ".join(console.export_text().split())
    assert "the worker failed on single" in text and "not compared: single, batch1, batch7" in text


def test_ulps_above_atol_beside_the_max() -> None:
    from hepinfer.measure.agreement import Tolerance, compare_output
    from hepinfer.report.verdicts import ulp_text

    ref = np.array([1e-9, 0.5, 1.0], np.float32)
    got = np.array([2e-9, 0.5, np.nextafter(np.float32(1.0), np.float32(2))], np.float32)
    o = compare_output(ref, got, Tolerance(1e-5, 1e-6))
    assert o["verdict"] == "within tolerance"
    assert o["ulp_max"] > 1_000_000  # 1e-9 -> 2e-9 is millions of float32 steps
    assert o["ulp_max_above_atol"] == 1  # the values that matter are one step apart
    assert ulp_text({"outputs": {"y": o}}) == f"{o['ulp_max']} ULP float32 (1 above atol)"


# --- planning, no workers ------------------------------------------------------------------------


def test_validate_record_appends_and_reads_back_typed(tmp_path: Path) -> None:
    request = validate.ValidateRequest(
        model="event_vae", backends=["onnxruntime"], batch_sizes=(16, 256), seed=3
    )
    report = {
        "kind": "validate",
        "model": "event_vae",
        "reference": "pytorch",
        "backends": [
            {"backend": "pytorch", "verdict": "reference"},
            {"backend": "onnxruntime", "verdict": "identical"},
        ],
    }
    out = tmp_path / "r.jsonl"
    jsonl.append(out, validate.record(request, report))
    jsonl.append(out, validate.record(request, report))
    records = [Record.from_dict(r) for r in jsonl.read(out)]
    assert [r.kind for r in records] == ["validate", "validate"]
    assert records[0].record_id != records[1].record_id
    r = records[1]
    assert (r.key.model, r.key.backend, r.key.batch, r.key.seed) == (
        "event_vae",
        "pytorch,onnxruntime",
        256,
        3,
    )
    assert r.extra["validate"]["backends"][1]["verdict"] == "identical"
    assert r.environment and r.environment["python"]


def test_padded_axes_of_real_layouts() -> None:
    vae = entry("event_vae").spec({"R": 32})
    assert validate.padded_axis(vae, "objects") == 2 and validate.padded_axis(vae, "met") is None
    if not SHARED.exists():
        pytest.skip(f"real models not found at {SHARED}")
    pn = spec_from_onnx(SHARED / "cms" / "ParticleNetAK4_CHS_V01.onnx")
    assert validate.padded_axis(pn, "pf_points") == 2
    assert validate.padded_axis(pn, "pf_mask") == 2
    dj = spec_from_onnx(SHARED / "cms" / "DeepJet_Run3_122X.onnx")
    assert validate.padded_axis(dj, "input_2") == 1 and validate.padded_axis(dj, "input_1") is None


def test_pad_events_zeroes_padding_and_masks() -> None:
    vae = entry("event_vae").spec({"R": 32})
    ref = model_ref("event_vae")
    from hepinfer.zoo import build_inputs

    x = build_inputs(ref, vae, 4, {}, 0)
    padded = validate.pad_events(vae, x, np.array([1, 2, 3, 1]))
    rows_real = np.abs(padded["objects"][:, 0]).sum(axis=-1) > 0
    assert (rows_real.sum(axis=1) <= [1, 2, 3, 1]).all()
    assert not rows_real[:, 3:].any()
    np.testing.assert_array_equal(padded["met"], x["met"])


def test_isa_caps_and_exporter_jobs() -> None:
    caps, note = validate.isa_caps("pytorch")
    envs = [env for _, env in caps]
    assert {"ATEN_CPU_CAPABILITY": "default"} in envs and {"ONEDNN_MAX_CPU_ISA": "SSE41"} in envs
    assert "ATEN_CPU_CAPABILITY" in note
    assert validate.isa_caps("onnxruntime")[0] == []
    request = validate.ValidateRequest(model="event_vae", backends=["onnxruntime"], threads=(2,))
    ref = model_ref("event_vae")
    sets = [validate.InputSet("realistic", {}), validate.InputSet("padded", {})]
    jobs = validate.plan_jobs(request, ref, "pytorch", ["onnxruntime"], sets)
    names = {j.name: j for j in jobs}
    assert names["b1-exporter-legacy"].exporter == "legacy"  # onnxruntime runs the export
    assert "b0-exporter-legacy" not in names  # pytorch runs the module itself
    assert names["b0-isa0"].env == {"ATEN_CPU_CAPABILITY": "default"}
    assert names["b1-threads2"].threads == 2
    assert names["b0-main"].sets[:2] == ["realistic", "realistic_again"]


def test_reference_runs_at_default_settings() -> None:
    request = validate.ValidateRequest(
        model="x.onnx",
        backends=["onnxruntime", "pytorch"],
        options={"onnxruntime": {"optimization": "disable"}},
    )
    assert validate.configs(request, "onnxruntime") == [
        ("onnxruntime", {}),
        ("onnxruntime", {"optimization": "disable"}),
        ("pytorch", {}),
    ]
    plain = validate.ValidateRequest(model="x.onnx", backends=["onnxruntime"])
    assert validate.configs(plain, "onnxruntime") == [("onnxruntime", {})]
    assert validate.label("onnxruntime", {"optimization": "disable"}) == "onnxruntime[optimization=disable]"


def test_tables_show_option_labels_and_worst_element() -> None:
    from rich.console import Console

    from hepinfer.measure.agreement import compare
    from hepinfer.report.validate import validate_tables

    ref = np.zeros((4, 3), np.float32)
    got = ref.copy()
    got[2, 1] = np.nan
    summary = compare({"y": ref}, {"y": got})
    report = {
        "model": "m.onnx",
        "reference": "onnxruntime",
        "precision": "fp32",
        "tolerance": {"rtol": 1e-4, "atol": 1e-5},
        "backends": [
            {
                "backend": "onnxruntime",
                "role": "reference",
                "verdict": "reference",
                "reproducibility": {"isa": {"answer": "n/a", "reason": validate.ORT_ISA_NOTE}},
            },
            {
                "backend": "onnxruntime[optimization=disable]",
                "role": "backend",
                "verdict": "different",
                "sets": {"padded": summary},
                "worst": {"inputs": "padded", **summary["worst"]},
                "nonfinite": {"padded": 1},
                "reproducibility": {"repeat": {"answer": "yes", "max_abs": 0.0, "ulp_max": 0}},
            },
        ],
    }
    console = Console(record=True, width=250)
    for t in validate_tables(report):
        console.print(t)
    text = console.export_text()
    assert "onnxruntime[optimization=disable]" in text
    assert "worst: padded y event 2 [1]: ref 0 got nan" in text
    assert "MLAS_DYNAMIC_CPU_ARCH" in text


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
def test_legacy_exporter_atan2_nan_on_padding_is_flagged(tmp_path: Path) -> None:
    """The real bug: the legacy torch exporter writes atan2(0, 0) as NaN, and a padded particle
    has px = py = 0. The NaN survives the mask (NaN * 0 = NaN) and poisons the whole event."""
    torch = pytest.importorskip("torch")

    class Phi(torch.nn.Module):
        def forward(self, x: Any, mask: Any) -> Any:
            phi = torch.atan2(x[..., 1], x[..., 0])
            h = torch.stack([phi, x[..., 2]], -1) * mask[..., None]
            return torch.softmax(h.sum(1), -1)

    path = tmp_path / "phi_legacy.onnx"
    axes = {"x": {0: "N", 1: "n_p"}, "mask": {0: "N", 1: "n_p"}, "prob": {0: "N"}}
    torch.onnx.export(
        Phi().eval(),
        (torch.randn(2, 12, 3), torch.ones(2, 12)),
        str(path),
        dynamo=False,
        input_names=["x", "mask"],
        output_names=["prob"],
        dynamic_axes=axes,
        opset_version=17,
    )
    request = _request(path, backends=["onnxruntime"], checks=["agreement"], batch_sizes=(16,))
    report = validate.run_validation(request)
    (ref,) = report["backends"]
    assert ref["role"] == "reference"
    # Every event of the single-particle set is padded: all of its outputs are NaN.
    assert ref["nonfinite"]["single"] == 2 * request.padded_events
    assert ref["nonfinite"]["padded"] > 0


@pytest.mark.slow
def test_worker_gets_env_and_runs_input_files(tiny: Path, tmp_path: Path) -> None:
    from hepinfer.results.schema import Key
    from hepinfer.runner.job import Job
    from hepinfer.runner.launch import run_job

    spec = spec_from_onnx(tiny)
    ref = model_ref(str(tiny))
    x = {"x": np.ones((5, 12, 3), np.float32), "mask": np.ones((5, 12), np.float32)}
    np.savez(tmp_path / "in.npz", **x)
    key = Key(
        model="tiny",
        backend="validate_backends:EnvShiftBackend",
        batch=1,
        threads=1,
        dims={"n_p": 12},
    )
    entry = {
        "name": "ones",
        "inputs": str(tmp_path / "in.npz"),
        "axes": {"x": 0, "mask": 0},
        "out_axes": {"prob": 0},
        "chunk": 2,
    }
    outs = {}
    for shift in ("0", "0.5"):
        job = Job(
            key=key,
            model_ref=ref,
            spec=spec,
            measure=False,
            input_files=({**entry, "outputs": str(tmp_path / f"o{shift}.npz")},),
        ).staged({"onnx_path": str(tiny)})
        result = run_job(job.to_dict(), tmp_path, f"job{shift}", 120, env={"HEPINFER_TEST_SHIFT": shift})
        assert result["status"] == "ok", result.get("error")
        assert result["input_files"] == [{"name": "ones", "status": "ok"}]
        with np.load(tmp_path / f"o{shift}.npz") as f:
            outs[shift] = f["prob"]
    assert outs["0"].shape == (5, 2)  # three calls of at most 2 events, concatenated
    np.testing.assert_allclose(outs["0.5"] - outs["0"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(outs["0"].sum(axis=1), 1.0, rtol=1e-6)
    assert spec.inputs[0].name == "x"


@pytest.mark.slow
def test_pytorch_isa_cap_reaches_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """ATEN_CPU_CAPABILITY=default makes torch dispatch to its portable kernels; the capped
    worker reports that level, and the answer is compared with the uncapped run."""
    pytest.importorskip("torch")
    only_default = [("ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"})]

    def caps(name: str) -> tuple[list[tuple[str, dict[str, str]]], str]:
        return (only_default, "capped") if name == "pytorch" else ([], "none")

    # Planned in the package, read back in the reproducibility answers: both see the one cap.
    monkeypatch.setattr(validate, "isa_caps", caps)
    monkeypatch.setattr(reproducibility, "isa_caps", caps)
    request = validate.ValidateRequest(
        model="linear_event", backends=["pytorch"], checks=["isa"], batch_sizes=(16,), timeout_s=120
    )
    report = validate.run_validation(request)
    isa = report["backends"][0]["reproducibility"]["isa"]
    assert isa["levels"] == {"ATEN_CPU_CAPABILITY=default": "DEFAULT"}
    assert isa["answer"] in ("yes", "no") and set(isa["each"]) == {"ATEN_CPU_CAPABILITY=default"}
    uncapped = report["backends"][0]["settings"]["cpu_capability"]
    assert uncapped != "DEFAULT" or isa["answer"] == "yes"


def _job_with_outputs(work: Path, name: str, outputs: dict[str, np.ndarray], **kw: Any) -> Any:
    from hepinfer.runner.validate.request import ValidateJob

    job = ValidateJob(name, kw.pop("backend", "openvino"), 1, "dynamo", ["realistic"], **kw)
    job.result.setdefault("status", "ok")
    np.savez(job.outputs(work, "realistic"), **outputs)  # type: ignore[arg-type]
    return job


def test_bf16_backend_ulps_are_counted_in_bfloat16_and_shown_so(tmp_path: Path) -> None:
    """OpenVINO at bf16 against an fp32 reference: ULPs of bfloat16, not of float32."""
    from rich.console import Console

    from hepinfer.measure.agreement import tolerance
    from hepinfer.report.validate import validate_tables

    rng = np.random.default_rng(2)
    ref = rng.uniform(0.5, 1.0, (8, 4)).astype(np.float32)
    # What a bf16 backend returns as float32: the reference rounded to bfloat16, one value a
    # further bfloat16 step away.
    from hepinfer.measure.ulp import round_bfloat16

    got = round_bfloat16(ref)
    got[3, 1] = np.float32(float(got[3, 1]) + 2.0**-8)  # one bfloat16 step in [0.5, 1)
    ref_job = _job_with_outputs(tmp_path, "b0-main", {"y": ref}, backend="onnxruntime")
    settings = {
        "requested": {"INFERENCE_PRECISION_HINT": "bf16"},
        "inference_precision_hint": "<Type: 'bfloat16'>",
    }
    job = _job_with_outputs(
        tmp_path,
        "b1-main",
        {"y": got},
        options={"precision": "bf16"},
        result={"status": "ok", "backend": {"settings": settings}},
    )
    request = validate.ValidateRequest(model="m.onnx", precision="bf16")
    entry = analysis._agreement(
        ref_job, job, tmp_path, ["realistic"], request, tolerance("bf16"), [], {"y": 0}
    )
    o = entry["sets"]["realistic"]["outputs"]["y"]
    assert entry["ulp_unit"] == o["ulp_unit"] == "bfloat16"
    assert o["ulp_max"] == 1  # rounding to bf16 is 0 steps; the one pushed further is 1
    assert (entry["worst"]["event"], entry["worst"]["index"]) == (3, [1])
    report = {
        "model": "m.onnx",
        "reference": "onnxruntime",
        "precision": "bf16",
        "tolerance": tolerance("bf16").to_dict(),
        "backends": [
            {"backend": "onnxruntime", "role": "reference", "verdict": "reference"},
            {"backend": "openvino[precision=bf16]", "role": "backend", **entry},
        ],
    }
    console = Console(record=True, width=250)
    for t in validate_tables(report):
        console.print(t)
    text = console.export_text()
    assert "ULP med/max (above atol) unit" in text and "0/1 (1) bfloat16" in text


def test_signed_zeros_make_reproducibility_no_and_the_table_says_why(tmp_path: Path) -> None:
    from rich.console import Console

    from hepinfer.measure.agreement import tolerance
    from hepinfer.report.validate import validate_tables

    a = {"y": np.array([[0.0, 1.0], [2.0, 0.0]], np.float32)}
    b = {"y": np.array([[-0.0, 1.0], [2.0, 0.0]], np.float32)}
    answer = reproducibility._answer([("realistic vs itself", reproducibility._same(a, b, {"y": 0}))])
    assert answer["answer"] == "no" and answer["values_equal"] is True
    assert answer["not_bitwise"] == {"realistic vs itself": "y 1 signed zero differs"}
    assert reproducibility._answer([("same", reproducibility._same(a, dict(a), {"y": 0}))])["answer"] == "yes"
    # Against the reference: the verdict says equal values, not "identical".
    ref_job = _job_with_outputs(tmp_path, "b0-main", a, backend="onnxruntime")
    job = _job_with_outputs(
        tmp_path, "b1-main", b, backend="onnxruntime", options={"optimization": "disable"}
    )
    request = validate.ValidateRequest(model="m.onnx")
    entry = analysis._agreement(
        ref_job, job, tmp_path, ["realistic"], request, tolerance("fp32"), [], {"y": 0}
    )
    assert entry["verdict"] == "equal values, not bitwise"
    assert entry["not_bitwise"] == {"inputs": "realistic", "y": "1 signed zero differs"}
    report = {
        "model": "m.onnx",
        "reference": "onnxruntime",
        "precision": "fp32",
        "tolerance": tolerance("fp32").to_dict(),
        "backends": [
            {"backend": "onnxruntime", "role": "reference", "verdict": "reference"},
            {
                "backend": "onnxruntime[optimization=disable]",
                "role": "backend",
                **entry,
                "reproducibility": {"repeat": answer},
            },
        ],
    }
    console = Console(record=True, width=250)
    for t in validate_tables(report):
        console.print(t)
    text = console.export_text()
    assert "equal values, not bitwise" in text
    assert (
        "onnxruntime[optimization=disable] equal values, not bitwise: realistic y 1 signed zero differs"
        in text
    )
    assert "no (equal values, not bitwise: y 1 signed zero differs)" in text
    assert "identical" not in text.replace("bitwise identical", "")
