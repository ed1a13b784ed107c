"""The seed-study suite: its configurations, its table of published figures, its page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.runner import sweep
from hepinfer.seeds import analysis, page, run, studies
from hepinfer.seeds.published import STUDIES

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def test_published_table_is_complete() -> None:
    assert sorted(STUDIES) == [1, 2, 3, 4, 5, 6, 7]
    for n, study in STUDIES.items():
        assert study.number == n and study.title and study.setup
        assert study.ratios or study.claims, f"study {n} has nothing to compare with"
        assert (not study.figures) == (not study.unit), f"study {n}: figures need a unit"
        assert n in studies.ANALYSES
    # The numbers, exactly.
    assert STUDIES[1].figures == {"tensorflow": 2.28, "onnxruntime": 0.52}
    assert STUDIES[2].figures == {"pytorch": 4.11, "onnxruntime": 0.14}
    assert STUDIES[4].figures["deepjet ort-sse"] == 0.00933
    assert STUDIES[4].figures["deepdoublex baseline"] == 0.00446
    assert len(STUDIES[4].figures) == 12
    assert STUDIES[6].figures["conv_d100_l14 sofie"] == 124_000.0
    assert STUDIES[6].ratios["linear_event: ONNX Runtime / SOFIE"] == 3.75


@pytest.mark.parametrize("number", sorted(STUDIES))
@pytest.mark.parametrize("quick", [False, True])
def test_configs_validate_against_the_sweep_schema(number: int, quick: bool) -> None:
    import yaml

    path = run.config_path(number, quick)
    text = path.read_text()
    sweep.check(yaml.safe_load(text), path, yaml.compose(text))
    # What the driver runs here (absent ONNX files and unusable backends left out) also plans.
    data, _ = run.prepared(number, quick)
    assert data["models"], f"study {number}: nothing left to run"
    sweep.check(data, path)


@pytest.mark.parametrize("number", sorted(STUDIES))
@pytest.mark.parametrize("quick", [False, True])
def test_configs_plan(number: int, quick: bool, tmp_path: Path) -> None:
    import yaml

    data, _ = run.prepared(number, quick)
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = sweep.load(path)  # every model name, option and batch is checked here
    assert plan.keys


def test_quick_configs_are_smaller() -> None:
    import yaml

    for number in STUDIES:
        full = yaml.safe_load(run.config_path(number, False).read_text())
        quick = yaml.safe_load(run.config_path(number, True).read_text())
        assert quick["timing"]["max_time_s"] < full["timing"]["max_time_s"]


def test_a_bad_config_is_refused(tmp_path: Path) -> None:
    import yaml

    bad = yaml.safe_load(run.config_path(1, True).read_text())
    bad["batches"] = [0]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigurationError, match="batches"):
        sweep.load(path)


def test_absent_real_models_are_left_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Pretend the repository lives where ../shared is absent: the real exports are dropped.
    monkeypatch.setattr(run, "ROOT", tmp_path)
    data, notes = run.prepared(4, True)
    names = [m if isinstance(m, str) else m["name"] for m in data["models"]]
    assert not any(str(n).endswith(".onnx") for n in names)
    assert any("DeepJet_Run3_122X.onnx" in note for note in notes)


def test_page_from_a_real_results_file(tmp_path: Path) -> None:
    # A real sweep of linear_event and higgs_model_dense (ONNX Runtime, PyTorch): study 6's models.
    shutil.copy(DATA / "sweep-results.jsonl", tmp_path / "study6_rootbench.jsonl")
    text = page.render(tmp_path, mode="quick")
    for n, study in STUDIES.items():
        assert f"## {n}. {study.title}" in text
    assert text.count("not run yet") == 6
    six = text[text.index("## 6.") :]
    # Published ratio beside ours; SOFIE was not in that file, so ours says so.
    assert "| linear_event (batch 1): ONNX Runtime / SOFIE | 3.75x | not measured |" in six
    records = [json.loads(line) for line in (DATA / "sweep-results.jsonl").read_text().splitlines()]
    rec = analysis.find(records, "linear_event", "onnxruntime")
    assert rec is not None
    expected = analysis.ftime(rec["stats"]["per_event_median_ns"] / 1e3)
    assert f"| linear_event onnxruntime b1 t1 | {expected} |" in six
    assert "this 2-core machine" in six


def test_ratios_from_records() -> None:
    def rec(
        backend: str, ns: float, batch: int = 1, options: dict[str, str] | None = None
    ) -> dict[str, object]:
        return {
            "status": "ok",
            "key": {
                "model": "jet_vae",
                "backend": backend,
                "batch": batch,
                "threads": 1,
                "options": options or {},
            },
            "stats": {"per_event_median_ns": ns, "median_ns": ns * batch},
        }

    records = [
        rec("tensorflow", 2000.0),
        rec("onnxruntime", 500.0),
        rec("tensorflow", 9000.0, options={"mode": "call"}),
    ]
    section = studies.study1(records, {})
    assert section.rows[0] == ("TensorFlow (tf.function) / ONNX Runtime, batch 1", "4.38x", "4.00x")
    assert section.rows[1][2] == "18.00x"
    assert section.missing  # the graviton samples are not generated here


@pytest.mark.shared
def test_real_models_are_kept_when_present(shared_models: Path) -> None:
    data, _ = run.prepared(4, True)
    names = [m if isinstance(m, str) else m["name"] for m in data["models"]]
    assert any(str(n).endswith("DeepJet_Run3_122X.onnx") for n in names)


def test_disk_inclusive_times_per_row() -> None:
    record = {
        "status": "ok",
        "key": {"model": "jet_vae", "backend": "onnxruntime", "batch": 2, "threads": 1, "options": {}},
        "data": {
            "file": "/cache/events/graviton-broad-200-s1-abc.parquet",
            "batch": 2,
            "passes": [{"events": 2, "rows": 4, "total_ns": 20_000, "inference_samples_ns": [4000, 2000]}],
        },
    }
    assert analysis.sample(record) == "graviton-broad"
    # Median of the per-call samples (3000 ns) over the batch of 2, and the total per row.
    assert analysis.data_us(record) == (1.5, 5.0)
    (row,) = analysis.data_rows([record])
    assert row[0].startswith("jet_vae onnxruntime b2 t1 on graviton-broad") and row[2] == "total 5 us"
