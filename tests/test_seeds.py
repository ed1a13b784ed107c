"""The seed-study suite: its configurations, its table of published figures, its page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hepinfer.errors import ConfigurationError
from hepinfer.runner import sweep
from seeds import analysis, page, run, studies
from seeds.published import STUDIES

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
def test_configs_validate_against_the_sweep_schema(
    number: int, quick: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import yaml

    monkeypatch.setattr(run, "ROOT", tmp_path)  # ../shared absent: its files are left out, not read

    path = run.config_path(number, quick)
    text = path.read_text()
    sweep.check(yaml.safe_load(text), path, yaml.compose(text))
    # What the driver runs here (absent ONNX files and unusable backends left out) also plans.
    data, _ = run.prepared(number, quick)
    assert data["models"], f"study {number}: nothing left to run"
    sweep.check(data, path)


@pytest.mark.parametrize("number", sorted(STUDIES))
@pytest.mark.parametrize("quick", [False, True])
def test_configs_plan(number: int, quick: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.setattr(run, "ROOT", tmp_path)  # ../shared absent: its files are left out, not read

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


def test_the_committed_page_is_the_committed_results_rendered() -> None:
    # docs/seeds.md is generated from benchmarks/results/seeds: every number and every "why they
    # differ" sentence on it must be what the analysis derives from those records today, so the
    # prose cannot drift from the numbers (regenerate: python benchmarks/seeds --quick
    # --page-only --no-html --out benchmarks/results/seeds --page docs/seeds.md).
    import os

    here = Path.cwd()
    os.chdir(ROOT)  # the page names its folder relative to the repository root
    try:
        rendered = page.render(Path("benchmarks/results/seeds"), mode="quick")
    finally:
        os.chdir(here)
    assert rendered == (ROOT / "docs" / "seeds.md").read_text()


def _rec(model: str, backend: str, us: float, batch: int = 1, threads: int = 1, **options: str) -> dict:
    return {
        "status": "ok",
        "key": {"model": model, "backend": backend, "batch": batch, "threads": threads, "options": options},
        "stats": {"per_event_median_ns": us * 1e3, "median_ns": us * 1e3 * batch},
        "memory": {"peak_rss": 300 * 2**20},
    }


def test_study3_prose_follows_the_direction_of_the_ratios() -> None:
    # Published: ONNX Runtime's advantage shrinks with batch. Where ours grows, the page says so
    # and drops the explanation of a shrinking advantage.
    shrinking = [_rec("jet_vae", "tensorflow", 500), _rec("jet_vae", "onnxruntime", 100)]
    shrinking += [_rec("jet_vae", "tensorflow", 60, batch=256), _rec("jet_vae", "onnxruntime", 50, batch=256)]
    why = " ".join(studies.study3(shrinking, {}).why)
    assert "shrinks from 5.00x at batch 1 to 1.20x at batch 256: per-call overhead" in why
    assert "grows at most 1.00-fold: nearly flat, as published" in why
    growing = [_rec("jet_vae", "tensorflow", 110), _rec("jet_vae", "onnxruntime", 100)]
    growing += [_rec("jet_vae", "tensorflow", 300, batch=256), _rec("jet_vae", "onnxruntime", 50, batch=256)]
    growing[-1]["memory"] = {"peak_rss": 900 * 2**20}
    why = " ".join(studies.study3(growing, {}).why)
    assert "grows from 1.10x at batch 1 to 6.00x at batch 256, unlike the publication" in why
    assert "per-call overhead" not in why
    assert "grows at most 3.00-fold: not flat, unlike the publication" in why


def test_study3_runs_the_seeds_graph_vae_against_pytorch_beside_jet_vae() -> None:
    # The seed's graph VAE has no Keras twin: study 3 compares it with PyTorch, its own framework,
    # and keeps TensorFlow against ONNX Runtime on jet_vae; each model's rows and prose from its
    # own records, memory from its own hepinfer memory records.
    records = [_rec("jet_vae", "tensorflow", 500), _rec("jet_vae", "onnxruntime", 100)]
    records += [_rec("jet_vae", "tensorflow", 60, batch=256), _rec("jet_vae", "onnxruntime", 50, batch=256)]
    # Sweep keys name the model with its parameters.
    records += [_rec("graph_vae[k=8]", "pytorch", 400), _rec("graph_vae[k=8]", "onnxruntime", 100)]
    records += [
        _rec("graph_vae[k=8]", "pytorch", 90, batch=256),
        _rec("graph_vae[k=8]", "onnxruntime", 30, batch=256),
    ]
    records[-1]["memory"] = {"peak_rss": 600 * 2**20}

    def mem(model: str, backend: str, batch: int, used: int, minimum: int) -> dict:
        return {
            "status": "ok",
            "key": {"model": f"{model}[k=8]", "backend": backend, "batch": batch},
            "memory": {"measured_bytes": used * 2**20, "minimum": {"total_bytes": minimum * 2**20}},
        }

    extra = {
        "memory": [mem("graph_vae", "onnxruntime", 1, 10, 1), mem("graph_vae", "onnxruntime", 256, 80, 40)]
    }
    s = studies.study3(records, extra)
    rows = {what: ours for what, _, ours in s.rows}
    assert rows["jet_vae: TensorFlow / ONNX Runtime per jet, batch 256"] == "1.20x"
    assert rows["graph_vae: PyTorch / ONNX Runtime per jet, batch 1"] == "4.00x"
    assert rows["graph_vae: PyTorch / ONNX Runtime per jet, batch 256"] == "3.00x"
    assert rows["graph_vae onnxruntime peak RSS, batch 256 / batch 1"] == "2.00x"
    assert rows["graph_vae onnxruntime (hepinfer memory): model + inference memory, batch 256 / batch 1"] == (
        "8.00x (10 -> 80 MiB)"
    )
    assert not any(w.startswith("jet_vae") and "hepinfer memory" in w for w in rows)
    why = " ".join(s.why)
    assert "graph_vae: ONNX Runtime's advantage over PyTorch shrinks from 4.00x at batch 1 to 3.00x" in why
    assert "jet_vae: ONNX Runtime's advantage over TensorFlow shrinks from 5.00x" in why
    assert "graph_vae: from batch 1 to 256 the workers' peak RSS (largest: onnxruntime, 600 MiB" in why
    assert "at batch 256) grows at most 2.00-fold: not flat, unlike the publication" in why
    assert "the theoretical minimum grows 40-fold" in why
    # Without graph_vae records, no graph_vae rows.
    assert not any("graph_vae" in w for w, _, _ in studies.study3(records[:4], {}).rows)


def test_study2_prose_follows_threads_torchscript_and_agreement() -> None:
    records = [
        _rec("event_vae", "onnxruntime", 10),
        _rec("event_vae", "pytorch", 100),
        _rec("event_vae", "pytorch", 50, threads=2),  # a second thread helps here
        _rec("event_vae", "pytorch", 120, mode="torchscript"),  # and TorchScript does not
    ]
    validate = {
        "reference": "pytorch",
        "backends": [
            {"backend": "onnxruntime", "sets": {"realistic": {"outputs": {"z": {"max_abs": 3e-3}}}}}
        ],
    }
    why = " ".join(studies.study2(records, {"validate": validate}).why)
    assert "a second intra-op thread made it 2.00 times faster here" in why
    assert "TorchScript (what LibTorch runs) was not faster than eager here" in why
    assert "far below the published 29x" in why  # 10x against 29.36x
    assert "differ by at most 0.003, more than float32 rounding explains" in why
    assert "synchronisation" not in why and "the level of float32 rounding" not in why


def test_study5_prose_says_who_is_slowest_from_the_numbers() -> None:
    model = "higgs_model_dense"
    records = [
        _rec(model, "onnxruntime", 10),
        _rec(model, "tensorflow", 5),
        _rec(model, "pytorch", 8),
        _rec(model, "sofie", 20),
    ]
    why = " ".join(studies.study5(records, {}).why)
    assert "tensorflow 0.5x, pytorch 0.8x, sofie 2.0x" in why
    assert "Keras and PyTorch are not the slowest, unlike the publication" in why


def test_the_driver_runs_from_any_directory(tmp_path: Path) -> None:
    # The driver finds its configurations beside itself, not through the installed package.
    import os
    import subprocess
    import sys

    shutil.copy(DATA / "sweep-results.jsonl", tmp_path / "study6_rootbench.jsonl")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "seeds"), "--quick", "--page-only", "--no-html",
         "--out", "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "seeds page: seeds.md"
    assert (
        "| linear_event (batch 1): ONNX Runtime / SOFIE | 3.75x | not measured |"
        in (tmp_path / "seeds.md").read_text()
    )
