"""The HEP event loop and LoadGen scenarios: real workers, real sessions, real LoadGen.

Nothing here depends on machine load: counts of events, calls and objects, bitwise equality
of outputs, the plan's configurations, and LoadGen's verdict on a short SingleStream run
(which LoadGen judges on its query count and duration, not on speed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from hepinfer.backends.onnxruntime import OnnxRuntimeBackend
from hepinfer.errors import ConfigurationError
from hepinfer.results import jsonl
from hepinfer.results.schema import SCHEMA_VERSION
from hepinfer.runner import eventloop
from hepinfer.runner.eventloop import Config, EventLoopRequest, multiplicity, oversubscription, plan
from hepinfer.runner.eventloop_worker import object_count, slot_inputs, split_objects
from hepinfer.runner.loadgen import LoadGenRequest, early_stopping, headline, parse_summary
from hepinfer.zoo import model_ref, spec_of


class NotShareable(OnnxRuntimeBackend):
    """ONNX Runtime declared unsafe to share, as a backend with per-call state would be."""

    shareable: ClassVar[bool] = False


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Exports go to a cache of this test module, never the user's; workers inherit it.
    os.environ.setdefault("HEPINFER_CACHE", str(tmp_path_factory.mktemp("cache")))


# ----------------------------------------------------------------------------- no workers


def test_multiplicity_names_and_parsing() -> None:
    ak4 = multiplicity("ak4-ttbar")
    rng = np.random.default_rng(1)
    n = np.array([ak4.draw(rng) for _ in range(20_000)])
    assert n.min() >= ak4.minimum == 2 and n.max() <= ak4.maximum
    assert 6.3 < n.mean() < 6.9  # Poisson(6.5), barely moved by the clipping
    assert multiplicity("ak8-qcd").mean == 2.0
    assert multiplicity("fixed:3").draw(rng) == 3
    p = multiplicity("poisson:4:2:9")
    assert (p.mean, p.minimum, p.maximum) == (4.0, 2, 9)
    for bad in ("ak5", "poisson:x", "fixed:0", "poisson:3:5:4"):
        with pytest.raises(ConfigurationError, match="--objects"):
            multiplicity(bad)


def test_slots_are_seeded_and_split_into_objects() -> None:
    ref = model_ref("linear_event")
    spec = spec_of(ref)
    dist = multiplicity("ak4-ttbar")
    a = slot_inputs(ref, spec, {}, dist, seed=3, slot=5)
    b = slot_inputs(ref, spec, {}, dist, seed=3, slot=5)
    assert np.array_equal(a["input"], b["input"])
    assert not np.array_equal(a["input"][:1], slot_inputs(ref, spec, {}, dist, 3, 6)["input"][:1])
    n = object_count(spec, a)
    assert n == a["input"].shape[0] >= 2
    parts = split_objects(spec, a)
    assert len(parts) == n and all(p["input"].shape == (1, 100) for p in parts)
    assert np.array_equal(np.concatenate([p["input"] for p in parts]), a["input"])


def test_plan_folds_one_thread_and_skips_shared_for_unshareable_backends() -> None:
    p = plan(
        EventLoopRequest(
            model="linear_event",
            threads=(4, 1, 2),
            objects="ak8-qcd",
            strategies=("per-event", "per-object"),
        )
    )
    configs = [(c.strategy, c.mode, c.threads) for c in p.configs]
    assert configs[:4] == [
        ("per-event", "shared", 1),
        ("per-event", "shared", 2),
        ("per-event", "per-thread", 2),
        ("per-event", "intra-op", 2),
    ]
    assert len(configs) == 2 * (1 + 3 + 3)
    assert p.configs[0].equivalent_modes == ("shared", "per-thread", "intra-op")
    # One object per event: the two strategies are the same, one runs.
    assert {
        c.strategy
        for c in plan(EventLoopRequest(model="linear_event", strategies=("per-object", "per-event"))).configs
    } == {"per-object"}
    q = plan(
        EventLoopRequest(model="linear_event", backends=("test_eventloop:NotShareable",), threads=(1, 2))
    )
    assert [(c.mode, c.threads) for c in q.configs] == [
        ("per-thread", 1),
        ("per-thread", 2),
        ("intra-op", 2),
    ]
    assert "shared mode skipped" in q.notes[0]
    for bad in ({"modes": ("both",)}, {"events": 0}, {"threads": (0,)}, {"strategies": ()}):
        with pytest.raises(ConfigurationError):
            plan(EventLoopRequest(model="linear_event", **bad))  # type: ignore[arg-type]


def test_oversubscription_warning() -> None:
    assert oversubscription(Config("onnxruntime", "shared", 2, "per-event"), 2, {}) is None
    w = oversubscription(Config("onnxruntime", "shared", 4, "per-event"), 2, {})
    assert w is not None and "4 framework thread(s) x 1 backend" in w
    assert oversubscription(Config("onnxruntime", "intra-op", 4, "per-event"), 2, {}) is not None
    # An OpenMP pool of 4 inside each of 2 calling threads: 8 threads on 4 cores.
    w = oversubscription(Config("pytorch", "per-thread", 2, "per-event"), 4, {"OMP_NUM_THREADS": "4"})
    assert w is not None and "= 8 > 4" in w


# A real summary written by mlcommons-loadgen (SingleStream that ran out of queries).
SUMMARY = """================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : SingleStream
Mode     : PerformanceOnly
90.0th percentile latency (ns) : 13480
Result is : INVALID
  Min duration satisfied : NO
  Min queries satisfied : Yes
  Early stopping satisfied: Yes
Recommendations:
 * Decrease the expected latency so the loadgen pre-generates more queries.
Early Stopping Result:
 * Processed at least 64 queries (20001).
 * Would discard 1900 highest latency queries.
 * Early stopping 90.0th percentile estimate: 13540
 * Early stopping 99.0th percentile estimate: 52228

================================================
Additional Stats
================================================
QPS w/ loadgen overhead         : 31596.08
QPS w/o loadgen overhead        : 35037.31

Min latency (ns)                : 11728
Mean latency (ns)               : 28541
50.00 percentile latency (ns)   : 12529
90.00 percentile latency (ns)   : 13480
99.00 percentile latency (ns)   : 41352

1 warning encountered. See detailed log.

1 ERROR encountered. See detailed log.
"""


def test_loadgen_summary_is_parsed() -> None:
    s = parse_summary(SUMMARY)
    assert s["Result is"] == "INVALID" and s["QPS w/o loadgen overhead"] == 35037.31
    assert (s["errors"], s["warnings"]) == (1, 1)
    assert s["Recommendations"] == [
        "Decrease the expected latency so the loadgen pre-generates more queries."
    ]
    es = early_stopping(s)
    assert es == {
        "satisfied": True,
        "estimates": {"p90_ns": 13540, "p99_ns": 52228},
        "lines": s["Early Stopping Result"],
    }
    h = headline("SingleStream", s)
    assert (h["valid"], h["min_duration_satisfied"], h["min_queries_satisfied"]) == (
        False,
        False,
        True,
    )
    assert h["p90_ns"] == 13480 and h["latency_ns"] == {
        "50.00": 12529,
        "90.00": 13480,
        "99.00": 41352,
    }


# ----------------------------------------------------------------------------- workers


@pytest.mark.slow
def test_every_mode_processes_the_events_asked_for_with_bitwise_outputs(tmp_path: Path) -> None:
    out = tmp_path / "el.jsonl"
    n = 37  # not a multiple of the threads: the last thread gets one event fewer
    request = EventLoopRequest(
        model="linear_event",
        threads=(1, 2),
        events=n,
        objects="ak8-qcd",
        strategies=("per-event",),
        pool=8,
        warmup_events=2,
        check_events=n,
    )
    records = eventloop.run_eventloop(request, out=out)
    assert [r["key"]["mode"] for r in records] == ["shared", "shared", "per-thread", "intra-op"]
    assert [r["status"] for r in records] == ["ok"] * 4, [r["error"] for r in records]
    assert list(jsonl.read(out)) == records
    objects = [
        object_count(
            spec_of(model_ref("linear_event")),
            slot_inputs(
                model_ref("linear_event"),
                spec_of(model_ref("linear_event")),
                {},
                multiplicity("ak8-qcd"),
                0,
                e % 8,
            ),
        )
        for e in range(n)
    ]
    for r in records:
        loop = r["eventloop"]
        assert r["kind"] == "eventloop" and r["schema_version"] == SCHEMA_VERSION
        assert r["environment"]["cpu"]["usable_cores"] >= 1 and "thread_env" in r["environment"]
        assert loop["events_processed"] == sum(loop["events_per_thread"]) == len(r["event_ns"]) == n
        assert loop["calls"] == len(r["samples_ns"]) == n  # one batched call per event
        assert loop["objects"] == sum(objects)
        assert r["stats"]["event"]["n"] == n and r["stats"]["events_per_s"] > 0
        assert r["memory"]["peak_rss"] >= r["memory"]["rss_after_load"] > 0
    assert [r["eventloop"]["events_per_thread"] for r in records] == [
        [37],
        [19, 18],
        [19, 18],
        [37],
    ]
    assert [r["eventloop"]["sessions"] for r in records] == [1, 1, 2, 1]
    assert records[3]["backend"]["settings"]["intra_op_num_threads"] == 2
    assert records[1]["backend"]["settings"]["intra_op_num_threads"] == 1
    # ONNX Runtime with one intra-op thread is deterministic: sharing it changes no bit.
    for r in records[1:3]:
        assert r["agreement"]["bitwise_equal"] is True and r["agreement"]["compared"] == n
        assert r["stats"]["scaling_efficiency"] == pytest.approx(r["stats"]["speedup"] / 2)
    from rich.console import Console

    from hepinfer.report.eventloop import eventloop_table

    console = Console(record=True, width=250)
    console.print(eventloop_table(records, title="t"))
    text = console.export_text()
    assert text.count("bitwise") >= 2 and "shared/per-thread/intra-op" in text
    # Two intra-op threads may split a reduction differently: equal within tolerance.
    assert records[3]["agreement"]["verdict"] in ("identical", "close")


@pytest.mark.slow
def test_one_call_per_jet_against_one_call_per_event(tmp_path: Path) -> None:
    n = 20
    request = EventLoopRequest(
        model="linear_event",
        threads=(2,),
        modes=("shared",),
        events=n,
        objects="ak4-ttbar",
        strategies=("per-event", "per-object"),
        pool=6,
        warmup_events=1,
        check_events=0,
    )
    per_event, per_object = eventloop.run_eventloop(request)
    assert per_event["status"] == per_object["status"] == "ok"
    assert per_event["key"]["batch"] == 0 and per_object["key"]["batch"] == 1
    assert per_event["eventloop"]["objects"] == per_object["eventloop"]["objects"]
    assert per_event["eventloop"]["calls"] == n
    # Per object: one call per jet, every event at least 2 jets.
    assert per_object["eventloop"]["calls"] == per_object["eventloop"]["objects"] >= 2 * n
    assert per_object["eventloop"]["events_processed"] == n


@pytest.mark.slow
def test_pytorch_sessions_per_thread_and_the_time_cap() -> None:
    # A cap already passed after the first event: each thread stops after exactly one.
    request = EventLoopRequest(
        model="linear_event",
        backends=("pytorch",),
        threads=(2,),
        modes=("per-thread",),
        events=9,
        pool=4,
        warmup_events=1,
        max_time_s=1e-9,
    )
    (record,) = eventloop.run_eventloop(request)
    assert record["status"] == "ok", record["error"]
    assert record["eventloop"]["sessions"] == 2 and record["backend"]["shareable"] is True
    assert record["eventloop"]["events_per_thread"] == [1, 1]
    assert len(record["memory"]["rss_after_each_load"]) == 2 and "rss_extra_session" in record["memory"]
    assert "processed 2 of 9 events: the time cap stopped the loop" in record["warnings"]


@pytest.mark.slow
def test_loadgen_short_single_stream_is_valid(tmp_path: Path) -> None:
    from hepinfer.runner import loadgen

    out = tmp_path / "lg.jsonl"
    request = LoadGenRequest(
        EventLoopRequest(model="linear_event", events=16),
        scenario="SingleStream",
        duration_s=0.3,
        min_queries=100,
    )
    record = loadgen.run_loadgen(request, out=out)
    assert record["status"] == "ok", record["error"]
    assert record["kind"] == "loadgen" and record["key"]["scenario"] == "SingleStream"
    s = record["stats"]
    assert s["valid"] is True, record["loadgen"]["summary_text"]
    assert s["min_queries_satisfied"] and s["min_duration_satisfied"]
    assert s["early_stopping"]["satisfied"] and s["early_stopping"]["estimates"]["p90_ns"] > 0
    assert record["loadgen"]["samples_answered"] >= 100
    assert 0 < s["latency_ns"]["50.00"] <= s["p90_ns"]
    assert next(iter(jsonl.read(out)))["record_id"] == record["record_id"]


def test_cli_refuses_bad_arguments_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from hepinfer.cli.main import main

    assert main(["eventloop", "linear_event", "--mode", "both"]) == 1
    assert main(["eventloop", "linear_event", "--option", "onnxruntime.spinning=true,false"]) == 1
    assert main(["loadgen", "linear_event", "--backend", "onnxruntime,pytorch"]) == 1
    assert main(["loadgen", "linear_event", "--qps", "-1"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hepinfer: error: --mode both: choose from shared, per-thread, intra-op",
        "hepinfer: error: --option onnxruntime.spinning: give one value per option",
        "hepinfer: error: --backend onnxruntime,pytorch: loadgen runs one backend at a time",
        "hepinfer: error: --qps, --duration and --target-latency-ms must be positive",
    ]


def test_loadgen_cli_builds_the_request() -> None:
    from hepinfer.cli.loadgen import request_from
    from hepinfer.cli.main import parser
    from hepinfer.runner.loadgen import check

    ns = parser().parse_args(
        [
            "loadgen",
            "linear_event",
            "--scenario",
            "Server",
            "--qps",
            "500",
            "--threads",
            "2",
            "--mode",
            "per-thread",
            "--objects",
            "ak8-qcd",
            "--option",
            "onnxruntime.spinning=false",
        ]
    )
    request = request_from(ns)
    assert (request.scenario, request.qps, request.threads, request.mode) == (
        "Server",
        500.0,
        2,
        "per-thread",
    )
    the_plan, config = check(request)
    assert (config.mode, config.threads, config.sessions) == ("per-thread", 2, 2)
    assert the_plan.request.options == {"onnxruntime": {"spinning": "false"}}
    assert the_plan.multiplicity.name == "ak8-qcd"
