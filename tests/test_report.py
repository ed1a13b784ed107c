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


def test_html_is_self_contained_with_every_plot(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    out = tmp_path / "report.html"
    assert main(["report", str(FIXTURE), "--html", str(out)]) == 0
    page = out.read_text()
    models = list(data.by_model(records))
    assert models == ["linear_event", "higgs_model_dense"]
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(KINDS) * len(models)
    assert all(len(b64) > 1000 for _, b64 in images)
    for title in (
        "Per-event latency vs batch size",
        "Speed-up vs the reference framework",
        "Throughput vs threads",
        "Memory vs batch size",
    ):
        assert page.count(f'alt="{title}"') == len(models)
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


def test_markdown_csv_and_plot_files(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    md, table, plots = tmp_path / "r.md", tmp_path / "r.csv", tmp_path / "plots"
    assert main(["report", str(FIXTURE), "--md", str(md), "--csv", str(table), "--plots", str(plots)]) == 0
    for model in ("linear_event", "higgs_model_dense"):
        for kind in KINDS:
            for ext in ("png", "pdf"):
                path = plots / f"{model}_{kind}.{ext}"
                assert path.stat().st_size > 1000, path
            assert f"(plots/{model}_{kind}.png)" in md.read_text()
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
    assert text.count("| configuration |") == 2


def test_report_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(FIXTURE)]) == 1
    assert "--html" in capsys.readouterr().err
