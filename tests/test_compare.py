"""compare: a test on per-process medians, compare along an axis, and the refusal to compare
different machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hepinfer.cli.main import main
from hepinfer.errors import ConfigurationError
from hepinfer.report.compare import SAME, SLOWER, TOO_FEW, compare_files, compare_processes, summary_lines

pytest.importorskip("scipy")

FIXTURE = Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"


def timings(rng: np.random.Generator, n: int, median_ns: float) -> list[int]:
    """Skewed, timing-like samples: a lognormal body around the median."""
    return [int(x) for x in median_ns * rng.lognormal(0.0, 0.1, n)]


def process_medians(rng: np.random.Generator, k: int, median_ns: float, between: float = 0.2) -> list[float]:
    """K per-process medians of one configuration: each process has its own level (its memory
    layout, thread placement, moment on the machine), lognormal with sd ``between``."""
    return [float(median_ns * rng.lognormal(0.0, between)) for _ in range(k)]


def test_identical_configurations_are_flagged_at_about_alpha() -> None:
    # Pairs of identical configurations whose processes vary by 20%: the test on per-process
    # medians flags about alpha of them (binomial slack on 400 pairs), a real 2x change always.
    rng = np.random.default_rng(7)
    flagged = sum(
        compare_processes(process_medians(rng, 5, 1e5), process_medians(rng, 5, 1e5))["verdict"] != SAME
        for _ in range(400)
    )
    assert flagged / 400 <= 0.08
    doubled = [
        compare_processes(process_medians(rng, 5, 1e5, 0.1), process_medians(rng, 5, 2e5, 0.1))
        for _ in range(50)
    ]
    assert all(r["verdict"] == SLOWER for r in doubled)
    assert all(r["ci_low"] < r["ratio"] < r["ci_high"] for r in doubled)
    assert np.median([r["ratio"] for r in doubled]) == pytest.approx(2.0, rel=0.05)


def test_pooled_samples_of_one_process_each_give_no_verdict() -> None:
    # The defect: two processes of the same configuration at levels 1.0 and 1.3 (one process's
    # luck), thousands of samples each. A rank test on the pooled samples called this
    # "slower, p < 1e-100"; one process per side cannot tell luck from a change.
    rng = np.random.default_rng(3)
    a, b = timings(rng, 3000, 100_000), timings(rng, 3000, 130_000)
    result = compare_processes([float(np.median(a))], [float(np.median(b))])
    assert result["verdict"] == SAME and result["p_value"] is None and result["ci_low"] is None
    assert result["reason"] == TOO_FEW
    assert result["ratio"] == pytest.approx(1.3, rel=0.02)


def test_interval_and_p_value_of_known_processes() -> None:
    # Per-process medians with a known Welch t on the logs (checked against scipy directly).
    from scipy import stats

    a, b = [100.0, 110.0, 95.0, 105.0], [150.0, 160.0, 140.0, 155.0]
    result = compare_processes(a, b)
    expected = stats.ttest_ind(np.log(b), np.log(a), equal_var=False)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    geo = float(np.exp(np.log(b).mean() - np.log(a).mean()))
    assert result["ratio"] == pytest.approx(geo)
    assert result["ci_low"] < geo < result["ci_high"] and result["ci_low"] > 1.0
    assert result["verdict"] == SLOWER and result["n_a"] == result["n_b"] == 4
    tight = [100.0, 100.1, 99.9, 100.05]
    below = compare_processes(tight, [x * 1.01 for x in tight], min_change=0.02)
    assert below["verdict"] == SAME and below["p_value"] < 1e-4 and "below --min-change" in below["reason"]


def _rewrite(tmp_path: Path, name: str, change: Any, k: int = 1) -> Path:
    """The fixture rewritten by ``change(record, process_index)``; with k > 1 each record
    becomes K processes of one repeat group."""
    from hepinfer.measure.stats import summarize

    out = tmp_path / name
    lines = []
    for line in FIXTURE.read_text().splitlines():
        for i in range(k):
            record = json.loads(line)
            change(record, i)
            record["stats"] = summarize(record["samples_ns"], record["key"]["batch"])
            if k > 1:
                record["repeat"] = {"group": name, "index": i, "of": k}
            lines.append(json.dumps(record))
    out.write_text("\n".join(lines) + "\n")
    return out


# Process levels of three processes (the spread one configuration shows between processes).
LEVELS = (0.9, 1.0, 1.12)


def test_files_doubled_processes_are_slower_everywhere(tmp_path: Path) -> None:
    def level(r: dict[str, Any], i: int) -> None:
        r["samples_ns"] = [int(x * LEVELS[i]) for x in r["samples_ns"]]

    def doubled(r: dict[str, Any], i: int) -> None:
        r["samples_ns"] = [int(2 * x * LEVELS[(i + 1) % 3]) for x in r["samples_ns"]]

    a = _rewrite(tmp_path, "a.jsonl", level, k=3)
    result = compare_files(a, _rewrite(tmp_path, "b.jsonl", doubled, k=3))
    assert len(result.rows) == 12 and not result.only_a and not result.only_b
    assert all(row["verdict"] == SLOWER for row in result.rows)
    assert all(row["ratio"] == pytest.approx(2.0, rel=0.01) for row in result.rows)
    assert all(row["n_a"] == row["n_b"] == 3 for row in result.rows)
    shuffled = compare_files(a, _rewrite(tmp_path, "c.jsonl", lambda r, i: level(r, 2 - i), k=3))
    assert all(row["verdict"] == SAME for row in shuffled.rows)


def test_one_process_per_side_is_never_called_different(tmp_path: Path) -> None:
    # Before: a 1.3x process-level difference in one process each was "slower" everywhere.
    def luckier(r: dict[str, Any], i: int) -> None:
        r["samples_ns"] = [int(1.3 * x) for x in r["samples_ns"]]

    result = compare_files(FIXTURE, _rewrite(tmp_path, "b.jsonl", luckier))
    assert all(row["verdict"] == SAME and row["reason"] == TOO_FEW for row in result.rows)
    assert any("--repeat" in line for line in summary_lines(result))


def test_compare_along_threads_in_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    # Before: "the two files have no configuration in common" for 1 thread against 2.
    result = compare_files(FIXTURE, by="threads")
    assert len(result.rows) == 6
    assert all(r["key_a"]["threads"] == 1 and r["key_b"]["threads"] == 2 for r in result.rows)
    row = next(r for r in result.rows if r["key_a"]["backend"] == "onnxruntime" and r["key_a"]["batch"] == 8)
    assert row["ratio"] == pytest.approx(23004.0 / 19369.0, rel=0.01)
    assert row["configuration"].endswith("threads 2 vs 1")
    by_backend = compare_files(FIXTURE, by="backend=pytorch")
    assert len(by_backend.rows) == 6 and all(r["key_b"]["backend"] == "onnxruntime" for r in by_backend.rows)
    assert main(["compare", str(FIXTURE), "--by", "threads"]) == 0
    assert "threads 2 vs 1" in capsys.readouterr().out
    assert main(["compare", str(FIXTURE), "--by", "threads=3"]) == 1
    assert "has no configuration with threads 3" in capsys.readouterr().err
    assert main(["compare", str(FIXTURE), "--by", "colour"]) == 1
    assert main(["compare", str(FIXTURE)]) == 1
    assert "--by" in capsys.readouterr().err


def test_different_machine_or_versions_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def elsewhere(r: dict[str, Any], i: int) -> None:
        r["environment"]["host"] = "other-node"
        if "onnxruntime" in r["environment"]["versions"]:
            r["environment"]["versions"]["onnxruntime"] = "0.0.1"

    other = _rewrite(tmp_path, "other.jsonl", elsewhere)
    with pytest.raises(ConfigurationError) as err:
        compare_files(FIXTURE, other)
    message = str(err.value)
    assert (
        "other-node" in message and "onnxruntime" in message and "0.0.1" in message and "--force" in message
    )
    assert main(["compare", str(FIXTURE), str(other)]) == 1
    assert "--force" in capsys.readouterr().err
    forced = compare_files(FIXTURE, other, force=True)
    assert len(forced.rows) == 12 and forced.warnings
    assert main(["compare", str(FIXTURE), str(other), "--force"]) == 0
