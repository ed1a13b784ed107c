"""hepinfer tune: budgets, the halving plan, the decision, a real search, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FAST_TIMING
from hepinfer.cli.main import main
from hepinfer.errors import ConfigurationError
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner import bench, tune
from hepinfer.runner import tune_decide as judge
from hepinfer.runner.tune_state import State, cost_s, halving_sizes, round_timing

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("1.5h", 5400.0)]
)
def test_budget_units(text: str, seconds: float) -> None:
    assert tune.parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["10", "10x", "", "m", "-5m", "0s", "1h30m"])
def test_bad_budgets_are_one_line_errors(
    text: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["tune", "linear_event", f"--budget={text}", "--out", str(tmp_path / "d.json")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--budget" in err, err
    assert not (tmp_path / "d.tune.jsonl").exists()


def test_a_budget_too_small_for_the_grid_says_how_much_it_needs(tmp_path: Path) -> None:
    request = tune.TuneRequest(
        "linear_event", budget_s=5.0, options={"onnxruntime": {"iobinding": ["false", "true"]}}
    )
    with pytest.raises(ConfigurationError, match=r"too short for 2 candidates: the search needs about \d+s"):
        tune.tune(request, tmp_path / "deploy.json")
    with pytest.raises(ConfigurationError, match="at least 4 processes"):
        tune.TuneRequest("linear_event", budget_s=60.0, repeats=3)


def test_halving_plan_spends_the_budget() -> None:
    assert halving_sizes(12) == [12, 6, 3] and halving_sizes(4) == [4] and halving_sizes(2) == []
    sizes = halving_sizes(12)
    t = round_timing(600.0, sizes, overhead=2.0, repeats=5, finalists=2)
    assert t > 0
    # The solved timing makes the whole plan cost exactly what is left.
    assert cost_s(sizes, t, 2.0, 5, 2) == pytest.approx(600.0)


def _records(rng: np.random.Generator, median_ns: float, spread: float, k: int) -> list[dict[str, Any]]:
    """K processes' bench records: each process's level drawn around the median, 3000 samples."""
    out = []
    for _ in range(k):
        level = median_ns * (1 + rng.normal(0, spread))
        samples = (level * (1 + 0.05 * rng.standard_exponential(3000))).astype(np.int64).tolist()
        from hepinfer.measure.stats import summarize

        stats = summarize(samples, 1)
        out.append({"key": {"batch": 1}, "samples_ns": samples, "stats": stats, "status": "ok"})
    return out


def test_decide_declares_a_winner_only_when_the_tests_say_so() -> None:
    rng = np.random.default_rng(3)
    clear = judge.decide({"a": _records(rng, 1000, 0.005, 5), "b": _records(rng, 1100, 0.005, 5)}, "median")
    assert clear["decision"] == "winner" and clear["best"] == "a"
    assert clear["tests"][0]["p_process"] < 0.05 and clear["tests"][0]["p_raw"] < 0.05
    # 1% apart, but the processes scatter by 5%: the pooled samples alone would call it,
    # the per-process test does not.
    noisy = judge.decide({"a": _records(rng, 1000, 0.05, 5), "b": _records(rng, 1010, 0.05, 5)}, "median")
    assert noisy["decision"] == "tie" and set(noisy["ties"]) == {"a", "b"}
    # p99: valid here (3000 samples a process); the same clear case is a winner on p99 too.
    assert (
        judge.decide({"a": _records(rng, 1000, 0.005, 5), "b": _records(rng, 1200, 0.005, 5)}, "p99")[
            "decision"
        ]
        == "winner"
    )


def test_the_search_renderer_is_plain_data() -> None:
    code = (
        "import sys, hepinfer.report.tune; "
        "bad = [m for m in sys.modules if m.startswith(('hepinfer.runner', 'hepinfer.backends'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _worker_outputs(key: Any, request: bench.BenchRequest, tmp_path: Path) -> dict[str, np.ndarray]:
    """The first-call outputs a bench worker wrote for ``key`` (its workdir kept)."""
    tmp_path.mkdir()
    old = tempfile.tempdir
    tempfile.tempdir = str(tmp_path)
    try:
        bench.run_bench(request, skip=lambda k: k != key, keep_workdir=True)
    finally:
        tempfile.tempdir = old
    [workdir] = list(tmp_path.glob("hepinfer-*"))
    [npz] = sorted(workdir.glob("job*.npz"))[-1:]
    with np.load(npz) as f:
        return dict(f)


@pytest.mark.slow
def test_a_real_search_cuts_a_wrong_backend_and_deploys_what_it_measured(
    tmp_path: Path, test_backends: str
) -> None:
    wrong = f"{test_backends}:WrongOutputs"  # ONNX Runtime with every output off by 1e-3
    request = tune.TuneRequest(
        "linear_event",
        budget_s=45.0,
        backends=["onnxruntime", wrong],
        batches=[1, 16],
        options={"onnxruntime": {"iobinding": ["false", "true"]}},
        reference="onnxruntime",
        repeats=4,
        policy=TimingPolicy(**FAST_TIMING),
        worker_overhead_s=1.5,
    )
    out = tmp_path / "deploy.json"
    events: list[str] = []
    doc = tune.tune(request, out, on_event=events.append)
    assert json.loads(out.read_text()) == json.loads(json.dumps(doc, default=str))
    rounds = doc["search"]["rounds"]
    first = {c["candidate"]: c for c in rounds[0]["candidates"]}
    assert len(first) == 6
    for name, row in first.items():
        if "WrongOutputs" in name:
            assert row["status"] == "cut"
            assert row["reason"] == "answers outside the tolerance of the reference"
    final = rounds[-1]
    assert final["final"] and final["repeats"] == 4 and len(final["candidates"]) == 2
    assert all(r["max_time_s"] >= rounds[0]["max_time_s"] for r in rounds)  # longer each round
    assert doc["decision"] in ("winner", "tie")
    [t] = doc["test"]["tests"]
    assert (doc["decision"] == "winner") == t["beats"]
    if t["beats"]:
        assert t["p_process"] < 0.05 and t["p_raw"] < 0.05
    else:
        assert {c["label"] for c in doc["ties"]} == set(doc["test"]["process_values"])
    assert doc["backend"] == "onnxruntime" and doc["batch"] in (1, 16)
    assert doc["expected"]["processes"] == 4 and len(doc["expected"]["process_medians_ns"]) == 4
    lo, hi = doc["expected"]["median_ci_ns"]
    assert lo <= doc["expected"]["median_ns"] <= hi
    assert doc["agreement"]["verdict"] in judge.GOOD and doc["environment"]["cpu"]
    # The state file: one record per (round, repeat, candidate), every round and its cuts.
    state = State.read(tune.state_path(out))
    n_rounds = len(rounds)
    assert set(state.rounds) == set(state.cuts) == set(range(n_rounds))
    assert len(state.records) == sum(len(r["candidates"]) * r["repeats"] for r in state.rounds.values())
    # A memory limit below what the record measured is a cut with the reason.
    record = state.records[(0, 0, 0)]
    peak = judge.peak_bytes(record)
    assert peak is not None
    assert "> --max-memory" in (judge.why_out(record, peak / 2**20 / 2, False) or "")
    assert judge.why_out(record, peak / 2**20 * 2, False) is None
    # Run again: nothing left to measure, the same decision.
    again: list[str] = []
    assert tune.tune(request, out, on_event=again.append)["label"] == doc["label"]
    assert not [e for e in again if "measured" in e]
    # The Session of deploy.json answers exactly what the benchmarked worker answered.
    from hepinfer import Session
    from hepinfer.zoo import build_inputs

    session = Session.from_config(out)
    key = next(k for k in bench.plan(request.bench_request(0.1)).keys if tune.label(k) == doc["label"])
    want = _worker_outputs(key, request.bench_request(0.1), tmp_path / "work")
    got = session(build_inputs(session.ref, session.spec, key.batch, session.dims, key.seed))
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.slow
def test_sigkill_then_resume_measures_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "deploy.json"
    state_file = tune.state_path(out)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [
        sys.executable, "-m", "hepinfer.cli.main", "tune", "linear_event", "--budget", "30s",
        "--option", "onnxruntime.iobinding=false,true", "--batch", "16", "--reference", "onnxruntime",
        "--repeats", "4", "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(State.read(state_file).records) < 3:
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline, "no record appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    before = State.read(state_file)
    lines_before = state_file.read_bytes().splitlines()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = State.read(state_file)
    # Two candidates: straight to the final, 4 processes each; nothing measured twice.
    assert len(after.records) == 8 and set(before.records) <= set(after.records)
    for slot, record in before.records.items():
        assert after.records[slot]["record_id"] == record["record_id"]
    assert state_file.read_bytes().splitlines()[: len(lines_before)] == lines_before
    measured = [line for line in done.stderr.splitlines() if line.strip().startswith("measured")]
    assert len(measured) == 8 - len(before.records)
    doc = json.loads(out.read_text())
    assert doc["decision"] in ("winner", "tie") and doc["expected"]["processes"] == 4
    assert "round" in done.stdout and "final" in done.stdout  # the search table
