"""compare: Mann-Whitney U on raw samples, and the refusal to compare different machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hepinfer.cli.main import main
from hepinfer.errors import ConfigurationError
from hepinfer.report.compare import FASTER, SAME, SLOWER, compare_files, compare_samples

pytest.importorskip("scipy")

FIXTURE = Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"


def timings(rng: np.random.Generator, n: int, median_ns: float) -> list[int]:
    """Skewed, timing-like samples: a lognormal body around the median."""
    return [int(x) for x in median_ns * rng.lognormal(0.0, 0.1, n)]


def test_known_2x_difference_is_detected() -> None:
    rng = np.random.default_rng(1)
    a, b = timings(rng, 200, 100_000), timings(rng, 200, 200_000)
    slower = compare_samples(a, b)
    assert slower["verdict"] == SLOWER
    assert slower["ratio"] == pytest.approx(2.0, rel=0.05)
    assert slower["p_value"] < 1e-10
    faster = compare_samples(b, a)
    assert faster["verdict"] == FASTER
    assert faster["ratio"] == pytest.approx(0.5, rel=0.05)


def test_same_distribution_is_no_significant_change() -> None:
    rng = np.random.default_rng(2)
    for _ in range(5):
        a, b = timings(rng, 200, 100_000), timings(rng, 200, 100_000)
        result = compare_samples(a, b)
        assert result["verdict"] == SAME
        assert result["ratio"] == pytest.approx(1.0, abs=0.05)


def test_small_significant_change_below_min_change_is_not_called() -> None:
    rng = np.random.default_rng(3)
    a = timings(rng, 5000, 100_000)
    b = [int(x * 1.01) for x in a]  # 1% slower, every sample: significant but below 2%
    assert compare_samples(a, b)["p_value"] < 0.01
    assert compare_samples(a, b)["verdict"] == SAME
    assert compare_samples(a, b, min_change=0.0)["verdict"] == SLOWER


def _rewrite(tmp_path: Path, name: str, change: Any) -> Path:
    out = tmp_path / name
    lines = []
    for line in FIXTURE.read_text().splitlines():
        record = json.loads(line)
        change(record)
        lines.append(json.dumps(record))
    out.write_text("\n".join(lines) + "\n")
    return out


def test_files_doubled_samples_are_slower_everywhere(tmp_path: Path) -> None:
    def double(r: dict[str, Any]) -> None:
        r["samples_ns"] = [2 * x for x in r["samples_ns"]]

    result = compare_files(FIXTURE, _rewrite(tmp_path, "b.jsonl", double))
    assert len(result.rows) == 12 and not result.only_a and not result.only_b
    assert all(row["verdict"] == SLOWER for row in result.rows)
    assert all(row["ratio"] == pytest.approx(2.0) for row in result.rows)
    same = compare_files(FIXTURE, FIXTURE)
    assert all(row["verdict"] == SAME and row["ratio"] == 1.0 for row in same.rows)


def test_different_machine_or_versions_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def elsewhere(r: dict[str, Any]) -> None:
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
