"""The command line: end to end in a real process, and every bad input as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hepinfer.cli.main import main

FAST = ["--max-time", "0.3", "--min-calls", "5"]


def _hepinfer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hepinfer.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        check=False,
    )


@pytest.mark.slow
def test_bench_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "res.jsonl"
    # higgs_model_dense was a Keras model: its native reference is TensorFlow unless told.
    args = ["--batch", "1,16", "--reference", "pytorch", *FAST, "--out", str(out)]
    proc = _hepinfer("bench", "higgs_model_dense", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The table: both backends at both batch sizes, speed-up against the reference, agreement.
    measured, one_off = proc.stdout.split("one-off costs", 1)  # the one-off table comes second
    for table in (measured, one_off):
        lines = [ln for ln in table.splitlines() if "│" in ln]
        assert sum("onnxruntime" in ln for ln in lines) == 2 and sum("pytorch" in ln for ln in lines) == 2
    assert "reference" in measured and "1.00x" in measured
    assert "4 records appended" in proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["key"]["batch"] for r in records] == [1, 1, 16, 16]
    assert all(r["status"] == "ok" for r in records)


@pytest.mark.slow
def test_bench_real_file_with_dims(tmp_path: Path, shared_models: Path) -> None:
    path = shared_models / "cms" / "ParticleNetAK4_CHS_V01.onnx"
    out = tmp_path / "res.jsonl"
    proc = _hepinfer(
        "bench", str(path), "--backend", "onnxruntime", "--dim", "n_pf=50", "--dim", "n_sv=4",
        "--batch", "2", *FAST, "--out", str(out), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["key"]["dims"] == {"n_pf": 50, "n_sv": 4}
    assert record["model"]["output_shapes"] == {"softmax": [2, 4]}


BAD_INPUTS = [
    (["bench", "no/such/model.onnx"], "no such model file"),
    (["bench", "linear_evnt"], "unknown model 'linear_evnt'"),
    (["bench", "linear_event", "--backend", "tensorrtx"], "unknown backend 'tensorrtx'"),
    (["bench", "linear_event", "--batch", "0"], "batch size 0 is not allowed"),
    (["bench", "linear_event", "--batch", "-4"], "batch size -4 is not allowed"),
    (["bench", "linear_event", "--batch", "one"], "--batch one: expected comma-separated integers"),
    (["bench", "linear_event", "--dim", "n_pf=3"], "no dynamic axis of that name"),
    (["bench", "linear_event", "--option", "onnxruntime.bogus=1"], "onnxruntime has no option 'bogus'"),
    (["bench", "linear_event", "--option", "pytorch.mode=jit"], "choose one of eager, torchscript"),
    (["bench", "event_vae", "--param", "R=8"], "R >= 13"),
    (["bench", "linear_event", "--timeout", "0"], "--timeout 0.0: must be positive"),
    (["bench", "linear_event", "--rel-ci", "2"], "rel_ci=2.0 must be between 0 and 1"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS)
def test_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hepinfer: error: ")
    assert message in err


def test_bad_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    assert main(["bench", str(text)]) == 1
    assert "not a readable ONNX file" in capsys.readouterr().err
    assert main(["bench", str(tmp_path)]) == 1
    assert "is a directory" in capsys.readouterr().err


def test_unset_dynamic_axis_names_the_fix(shared_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(shared_models / "cms" / "ParticleNetAK8_General_V01.onnx")]) == 1
    err = capsys.readouterr().err
    assert "dynamic axis 'n_pf'" in err and "--dim n_pf=N" in err


def test_truncated_real_file(tmp_path: Path, shared_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (shared_models / "cms" / "DeepJet_Run3_122X.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert main(["bench", str(cut)]) == 1
    assert "copied whole" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = _hepinfer("--debug", "bench", "linear_event", "--batch", "0", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "ConfigurationError" in proc.stderr
    plain = _hepinfer("bench", "linear_event", "--batch", "0", cwd=tmp_path)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr


def test_env_lists_backends_and_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backends"]["onnxruntime"]["status"] == "available"
    assert data["backends"]["pytorch"]["status"] == "available"
    assert data["environment"]["cpu"]["logical_cores"] >= 1
    assert any(lib.get("user_api") == "blas" for lib in data["environment"]["blas"])


def _zoo_rows(out: str) -> dict[str, list[str]]:
    """The zoo table's cells by model (the first line of each row)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if line.startswith("│") and cells[0]:
            rows[cells[0]] = cells
    return rows


def test_zoo_lists_parameter_counts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The params column is the count of the built model, the next one the spec's target: both
    # are read from their own column (the target alone once made this pass whatever the count).
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["zoo"]) == 0
    rows = _zoo_rows(capsys.readouterr().out)
    counted = {name: cells[2] for name, cells in rows.items()}
    assert counted["linear_event"] == "25,960" and counted["higgs_model_dense"] == "41,402"
    assert counted["event_vae"] == "15,966"
    assert rows["rnn_d10_l20_h8"][2:4] == ["178", "186 (stored)"]  # the count is not the target
    from hepinfer.zoo.catalog import ZooEntry

    monkeypatch.setattr(ZooEntry, "count_parameters", lambda self, params=None: 7)
    assert main(["zoo"]) == 0
    assert {cells[2] for cells in _zoo_rows(capsys.readouterr().out).values()} == {"7"}
