"""Typed records: golden files of each schema version, migration, round trips, bad types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hepinfer.errors import ResultsError
from hepinfer.results import jsonl
from hepinfer.results.record import Memory, Record, Timing
from hepinfer.results.schema import SCHEMA_VERSION, migrate

GOLDEN = Path(__file__).resolve().parent / "data" / "records"


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (GOLDEN / name).read_text().splitlines() if line.strip()]


def test_the_golden_files_are_of_their_versions() -> None:
    assert {r["schema_version"] for r in _lines("v1.jsonl")} == {1}
    assert {r["schema_version"] for r in _lines("v2.jsonl")} == {2} == {SCHEMA_VERSION}
    kinds = {r["kind"] for name in ("v1.jsonl", "v2.jsonl") for r in _lines(name)}
    assert kinds == {"bench", "eventloop", "memory"}


@pytest.mark.parametrize("name", ["v1.jsonl", "v2.jsonl"])
def test_every_golden_record_reads_typed_and_round_trips(name: str) -> None:
    for raw in _lines(name):
        record = Record.from_dict(raw)
        assert record.schema_version == SCHEMA_VERSION
        again = Record.from_dict(record.to_dict())
        assert again == record  # nothing lost or changed by writing and reading back
        assert json.loads(json.dumps(record.to_dict())) == record.to_dict()
        if record.ok:
            assert record.error is None and isinstance(record.memory, Memory)
        else:
            assert record.error is not None and record.error.message and record.error.phase


def test_version_2_records_carry_the_measured_process() -> None:
    bench = [Record.from_dict(r) for r in _lines("v2.jsonl") if r["kind"] == "bench" and r["status"] == "ok"]
    ort = next(r for r in bench if r.key.backend == "onnxruntime")
    assert ort.process is not None and "onnxruntime" in (ort.process.modules or ())
    assert "torch" not in (ort.process.modules or ())
    assert isinstance(ort.timing, Timing) and ort.timing.timed_s and ort.timing.wall_s
    assert ort.memory is not None and ort.memory.peak_bytes and ort.memory.peak_bytes > 0
    sofie = next(r for r in bench if r.key.backend == "sofie")
    assert sofie.timing is not None and sofie.timing.native and sofie.timing.native["samples_ns"]


def test_migrating_version_1_derives_stats_again_and_drops_the_overclaims() -> None:
    v1 = _lines("v1.jsonl")
    migrated = [migrate(dict(r)) for r in v1]
    for old, new in zip(v1, migrated, strict=True):
        assert new["schema_version"] == 2 and new["process"] is None
        if old["kind"] == "bench" and old["status"] == "ok":
            n = len(old["samples_ns"])
            assert n < 1000  # version 1 stopped fast models at about 50 calls
            assert old["stats"]["p99_ns"] is not None  # ... and called their largest sample p99
            assert new["stats"]["p99_ns"] is None and new["stats"]["p99_valid"] is False
            assert new["stats"]["median_ns"] == pytest.approx(old["stats"]["median_ns"])
            assert new["stats"]["sustained_eps"] > 0
    # A version-1 "identical" compared values: it is not carried over as bitwise identity.
    before = [r["agreement"]["verdict"] for r in v1 if r.get("agreement")]
    after = [r["agreement"]["verdict"] for r in migrated if r.get("agreement")]
    assert "identical" in before and "identical" not in after
    shown = next(r for r in migrated if (r.get("agreement") or {}).get("not_bitwise"))
    assert "bits" in next(iter(shown["agreement"]["not_bitwise"].values()))


def test_reading_a_file_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text((GOLDEN / "v1.jsonl").read_text())
    assert {r["schema_version"] for r in jsonl.read(path)} == {SCHEMA_VERSION}


def test_a_field_of_the_wrong_type_is_refused_in_one_line() -> None:
    raw = _lines("v2.jsonl")[0]
    raw["timing"]["stop_reason"] = 3
    with pytest.raises(ResultsError, match=r"record\.timing\.stop_reason is int, expected str"):
        Record.from_dict(raw)
    raw = _lines("v2.jsonl")[0]
    raw["samples_ns"] = [1.5, 2.0]
    with pytest.raises(ResultsError, match="samples_ns must be integers"):
        Record.from_dict(raw)
    raw = _lines("v2.jsonl")[0]
    del raw["key"]
    with pytest.raises(ResultsError, match="has no 'key'"):
        Record.from_dict(raw)
