"""Reports from a real results file (tests/data/sweep-results.jsonl, see tests/data/README.md)."""

from __future__ import annotations

import copy
import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hepinfer.cli.main import main
from hepinfer.report import data, html, markdown

pytest.importorskip("matplotlib")
pytest.importorskip("mplhep")

FIXTURE = Path(__file__).resolve().parent / "data" / "sweep-results.jsonl"
KINDS = ("latency", "speedup", "throughput", "memory")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return data.load([FIXTURE])


def test_load_keeps_the_latest_record_per_configuration(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    assert len(records) == 12
    twice = tmp_path / "twice.jsonl"
    lines = FIXTURE.read_text().splitlines()
    newer = json.loads(lines[0])
    newer["record_id"] = "newer"
    twice.write_text("\n".join([*lines, json.dumps(newer)]) + "\n")
    again = data.load([twice])
    assert len(again) == 12
    assert again[0]["record_id"] == "newer"


def test_recommendation_is_the_fastest_agreeing_configuration(records: list[dict[str, Any]]) -> None:
    for model, rs in data.by_model(records).items():
        rec = data.recommend(rs)
        single = [r for r in rs if r["key"]["batch"] == 1 and r["key"]["threads"] == 1]
        fastest = min(single, key=lambda r: r["stats"]["median_ns"])
        assert rec["latency"] is fastest, model
        best = max(rs, key=lambda r: r["stats"]["throughput_eps"])
        assert rec["throughput"] is best, model
    # a configuration that disagrees with the reference is never recommended, however fast
    rs = copy.deepcopy(data.by_model(records)["higgs_model_dense"])
    winner = data.recommend(rs)["latency"]
    assert winner is not None
    winner["agreement"]["verdict"] = "different"
    assert data.recommend(rs)["latency"] is not winner


@pytest.mark.slow
def test_html_is_self_contained_with_every_plot(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(FIXTURE), "--html", str(out)]) == 0
    page = out.read_text()
    models = list(data.by_model(records))
    assert models == ["linear_event", "higgs_model_dense"]
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert all(len(b64) > 1000 for _, b64 in images)
    # higgs_model_dense ran at batch 1 and 8, 1 and 2 threads: every plot. linear_event ran at
    # batch 1 only: no plot against the batch size, its throughput against threads.
    assert len(images) == len(KINDS) + 1
    for title in (
        "Per-event latency vs batch size",
        "Speed-up vs the reference framework",
        "Memory vs batch size",
    ):
        assert page.count(f'alt="{title}"') == 1
    assert page.count('alt="Throughput vs threads"') == 2
    assert page.count("Not drawn, a single value on the x axis") == 1
    for section in ("Recommendation", "Agreement with the reference", "One-off costs", "Environment"):
        assert section in page
    host = records[0]["environment"]["host"]
    assert f'<td class="l">{host}</td>' in page
    # nothing to fetch from the network: no external URL in any src or href
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_strings_from_records_are_escaped(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    evil = copy.deepcopy(records[:2])
    evil[0]["key"]["model"] = evil[1]["key"]["model"] = "<script>alert(1)</script>"
    evil[1]["status"] = "error"
    evil[1]["error"] = {"phase": "load", "message": "bad <img src=x onerror=alert(2)> & worse"}
    evil[0]["environment"]["host"] = "<b>host</b>"
    page = html.render(evil, sources=["<i>file</i>.jsonl"])
    assert "<script>" not in page and "<img src=x" not in page and "<b>host" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "bad &lt;img src=x onerror=alert(2)&gt; &amp; worse" in page
    assert "&lt;i&gt;file&lt;/i&gt;.jsonl" in page


def test_fast_but_different_is_flagged(records: list[dict[str, Any]]) -> None:
    rs = copy.deepcopy(data.by_model(records)["linear_event"])
    ort = next(r for r in rs if r["key"]["backend"] == "onnxruntime" and r["key"]["threads"] == 1)
    ort["agreement"]["verdict"] = "different"
    ups = data.speedup_of(rs)
    assert ups[ort["record_id"]] is not None and ups[ort["record_id"]] > 1  # ORT is faster than torch here
    table = html.agreement_table(rs)
    assert table.count("FAST BUT DIFFERENT") == 1
    assert table.count('class="bad"') == 1


@pytest.mark.slow
def test_markdown_csv_and_plot_files(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    md, table, plots = tmp_path / "r.md", tmp_path / "r.csv", tmp_path / "plots"
    assert main(["report", str(FIXTURE), "--md", str(md), "--csv", str(table), "--plots", str(plots)]) == 0
    drawn = {"linear_event": ("throughput",), "higgs_model_dense": KINDS}  # linear_event: batch 1 only
    for model in ("linear_event", "higgs_model_dense"):
        for kind in KINDS:
            for ext in ("png", "pdf"):
                path = plots / f"{model}_{kind}.{ext}"
                assert path.exists() == (kind in drawn[model]), path
                assert kind not in drawn[model] or path.stat().st_size > 1000, path
            assert (f"(plots/{model}_{kind}.png)" in md.read_text()) == (kind in drawn[model])
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    by_key = {(r["model"], r["backend"], r["batch"], r["threads"]): r for r in rows}
    for r in records:
        k = r["key"]
        row = by_key[(k["model"], k["backend"], str(k["batch"]), str(k["threads"]))]
        assert float(row["median_ns"]) == r["stats"]["median_ns"]
        assert row["agreement"] == r["agreement"]["verdict"]
    text = markdown.render(records)
    assert text.count("| configuration | batch | threads | per event |") == 2  # results, per model
    assert text.count("### One-off costs") == 2


def test_report_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(FIXTURE)]) == 1
    assert "--html" in capsys.readouterr().err


def _openvino_bf16(records: list[dict[str, Any]], ratio: float) -> dict[str, Any]:
    """A real onnxruntime record made into OpenVINO bf16 on conv_d100_l14 at batch 32, with the
    memory section the worker writes (measured / graph-level minimum = ``ratio``)."""
    r = copy.deepcopy(next(r for r in records if r["key"]["backend"] == "onnxruntime"))
    r["record_id"] = f"ov-bf16-{ratio}"
    r["key"].update(model="conv_d100_l14", backend="openvino", batch=32, options={"precision": "bf16"})
    r["backend"] = {
        "settings": {
            "requested": {"INFERENCE_PRECISION_HINT": "bf16"},
            "inference_precision_hint": "<Type: 'bfloat16'>",
        }
    }
    weights, peak = 2_178_564, 32 * (128 + 64) * 100 * 100 * 4
    total = weights + peak
    r["memory"] = {
        **r["memory"],
        "measured_bytes": int(ratio * total),
        "deltas": {"model": 9_000_000, "inputs": 1_280_000, "inference": int(ratio * total) - 10_280_000},
        "minimum": {
            "weight_bytes": weights,
            "peak_activation_bytes": peak,
            "total_bytes": total,
            "ratio": ratio,
            "unknown_count": 0,
        },
    }
    # bench.py counts ULPs in the reference's float type: the unit is recorded, and differs.
    r["agreement"] = {
        "reference": {"backend": "onnxruntime", "threads": 1},
        "verdict": "within tolerance",
        "precision": "fp32",
        "ulp_unit": "float32",
        "outputs": {
            "y": {"verdict": "within tolerance", "max_abs": 2e-3, "ulp_max": 70123, "ulp_unit": "float32"}
        },
    }
    return r


def test_memory_below_the_graph_level_minimum_is_marked_and_explained(records: list[dict[str, Any]]) -> None:
    from rich.console import Console

    from hepinfer.report.memory import memory_table
    from hepinfer.report.minimum import BELOW_MINIMUM_NOTE, MINIMUM_LEGEND
    from hepinfer.report.table import bench_table

    below, above = _openvino_bf16(records, 0.928), _openvino_bf16(records, 1.7)

    def shown(table: Any) -> str:
        console = Console(record=True, width=300)
        console.print(table)
        return " ".join(console.export_text().split())

    text = shown(bench_table([below, above]))
    assert "(0.928x†)" in text and "(1.7x)" in text and "1.7x†" not in text
    assert "memory (x graph min)" in text
    assert " ".join(BELOW_MINIMUM_NOTE.split()) in text and "graph-level minimum" in text
    assert "fused or in-place kernels hold fewer live activations" in text
    # Above the minimum only: the legend still says what the minimum is, no footnote.
    text = shown(bench_table([above]))
    assert " ".join(MINIMUM_LEGEND.split()) in text and "†" not in text
    # hepinfer memory's table, from the same records.
    mem = shown(memory_table([below, above]))
    assert "0.928x†" in mem and "graph minimum" in mem and "fused or in-place kernels" in mem
    # The HTML page: the minimum's cell, marker and legend.
    page = html.one_off_table([below, above])
    assert "graph-level min MiB (x min)" in page and "(0.928x†)" in page and "(1.7x)" in page
    assert html.e(BELOW_MINIMUM_NOTE) in page and html.e(MINIMUM_LEGEND) in page
    assert html.e(BELOW_MINIMUM_NOTE) not in html.one_off_table([above])


def test_ulps_of_another_unit_than_the_backend_ran_are_said_so(records: list[dict[str, Any]]) -> None:
    from hepinfer.report.verdicts import agreement_cell

    r = _openvino_bf16(records, 1.7)
    assert agreement_cell(r["agreement"], r) == "within tol (70123 ULP float32, backend ran bfloat16)"
    counted_in_bf16 = copy.deepcopy(r)
    counted_in_bf16["agreement"]["outputs"]["y"].update(ulp_max=1, ulp_unit="bfloat16")
    assert agreement_cell(counted_in_bf16["agreement"], counted_in_bf16) == "within tol (1 ULP bfloat16)"
    assert "70123 ULP float32, backend ran bfloat16" in html.agreement_table([r])


def test_equal_values_not_bitwise_is_never_shown_as_identical(records: list[dict[str, Any]]) -> None:
    rs = copy.deepcopy(data.by_model(records)["linear_event"])
    ort = next(r for r in rs if r["key"]["backend"] == "onnxruntime" and r["key"]["threads"] == 1)
    ort["agreement"].update(verdict="equal values, not bitwise", not_bitwise={"y": "3 signed zeros differ"})
    assert data.agrees(ort)  # equal values still agree: it can be recommended
    table = html.agreement_table(rs)
    assert "<td>equal values, not bitwise</td>" in table and "3 signed zeros differ" in table
    assert "identical: bitwise (same dtype, shape and bytes)" in table
    assert "equal values, not bitwise (y 3 signed zeros differ)" in markdown.render(rs)


def _timed(backend: str, exporter: str, median_ns: float, reference: str = "pytorch") -> dict[str, Any]:
    from hepinfer.measure.stats import summarize
    from hepinfer.results.schema import Key, new_record

    key = Key(model="m", backend=backend, batch=1, threads=1, exporter=exporter)
    record = new_record(key, exporter)
    record["samples_ns"] = [int(median_ns)] * 21
    record["stats"] = summarize(record["samples_ns"], 1)
    ref = Key(model="m", backend=reference, batch=1, threads=1, exporter=exporter)
    record["model"] = {"reference_backend": reference, "reference_key": ref.to_dict()}
    record["agreement"] = {"verdict": "reference" if key == ref else "identical"}
    return record


def test_speedup_is_against_the_reference_the_plan_chose() -> None:
    """Two runs in one file (two exporters): each configuration against its own run's reference.

    Looking the reference up by backend name mixed the runs: both ONNX Runtime records were
    compared with whichever PyTorch record came last.
    """
    from hepinfer.report.speedups import speedups

    runs = [
        _timed("pytorch", "dynamo", 100_000),
        _timed("onnxruntime", "dynamo", 50_000),
        _timed("pytorch", "torchscript", 200_000),
        _timed("onnxruntime", "torchscript", 50_000),
    ]
    ups = speedups(runs)
    assert [ups[r["record_id"]] for r in runs] == pytest.approx([1.0, 2.0, 1.0, 4.0])
    # A record from before the key was stored: the reference found by its backend, as before.
    old = copy.deepcopy(runs[1])
    del old["model"]["reference_key"]
    assert speedups([runs[0], old])[old["record_id"]] == pytest.approx(2.0)


def _one_thread_count(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """higgs_model_dense at 1 thread only: batch 1 and 8, so latency vs batch still has a line."""
    return [r for r in data.by_model(records)["higgs_model_dense"] if r["key"]["threads"] == 1]


def test_a_plot_with_one_value_on_its_x_axis_is_not_drawn(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    from hepinfer.report import plots

    one = _one_thread_count(records)
    assert {r["key"]["threads"] for r in one} == {1} and {r["key"]["batch"] for r in one} == {1, 8}
    assert plots.not_drawn(one) == {"throughput": "one thread count: 1"}
    figs = plots.figures(one)
    assert [name for name, _, _ in figs["higgs_model_dense"]] == [
        "higgs_model_dense_latency", "higgs_model_dense_speedup", "higgs_model_dense_memory",
    ]  # fmt: skip
    page = html.render(one, figs=figs)
    assert 'alt="Throughput vs threads"' not in page and 'alt="Per-event latency vs batch size"' in page
    (why,) = re.findall(r"<p class=\"note\"><small>([^<]*)</small></p>", page)
    assert why == "Not drawn, a single value on the x axis: throughput vs threads (one thread count: 1)."
    # The plot files and the Markdown: no throughput plot, the same one line instead.
    results = tmp_path / "one.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in one))
    md, folder = tmp_path / "one.md", tmp_path / "plots"
    (folder).mkdir()
    (folder / "higgs_model_dense_throughput.png").write_bytes(b"stale, from an earlier report")
    assert main(["report", str(results), "--md", str(md), "--plots", str(folder)]) == 0
    text = md.read_text()
    assert "_throughput.png" not in text and "_latency.png" in text and why in text


def test_the_bench_table_says_which_of_sofies_two_figures_it_shows() -> None:
    """SOFIE is timed twice (the Python call, its C++ loop): the row names the one shown."""
    from rich.console import Console

    from hepinfer.measure.stats import summarize
    from hepinfer.report.table import bench_table
    from hepinfer.results.schema import Key, new_record

    record = new_record(Key(model="m", backend="sofie", batch=1, threads=1), "run")
    record["samples_ns"] = [4000] * 50
    record["stats"] = summarize(record["samples_ns"], 1)
    record["stats"]["native"] = summarize([3000] * 50, 1)
    record["timing"] = {"stop_reason": "converged", "timer_overhead_ns": 30.0}
    console = Console(width=400, record=True)
    console.print(bench_table([record], title="t"))
    text = console.export_text()
    assert "shown: Python call; own C++ loop 3 us/event (call/loop 1.33)" in text


def test_validate_title_keeps_the_models_parameters() -> None:
    # Before: rich read "[channels=8,k=3]" as a style tag and the title said "gnn_tau" alone.
    from rich.console import Console

    from hepinfer.report.validate import validate_tables

    report = {
        "model": "gnn_tau[channels=8,k=3]",
        "reference": "pytorch",
        "precision": "fp32",
        "tolerance": {"rtol": 1e-4, "atol": 1e-5},
        "backends": [{"backend": "ort", "verdict": "identical", "sets": {"s": {"outputs": {"y": {}}}}}],
    }
    console = Console(width=200, record=True)
    console.print(validate_tables(report)[0])
    assert "hepinfer validate: gnn_tau[channels=8,k=3] vs pytorch" in console.export_text()
