"""docs/seeds.md: each seed study's published figures beside ours, built from a results folder.

The folder holds, per study N, ``studyN.jsonl`` (its sweep records), and where the study runs
them ``studyN-validate.json`` (a ``hepinfer validate`` report), ``studyN-data.jsonl`` (bench
records with disk-inclusive timing), ``studyN-memory.jsonl`` (``hepinfer memory`` records) and
``studyN-eventloop.jsonl``.
A study without results is listed as not run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepinfer.results import jsonl
from seeds.analysis import Section, absolute_rows, data_rows
from seeds.published import STUDIES, Study
from seeds.studies import ANALYSES


def load(folder: Path, number: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sweep records of study ``number`` and its extra runs (validate report, event loop)."""
    stem = STUDIES[number].config
    records = list(jsonl.read(folder / f"{stem}.jsonl")) if (folder / f"{stem}.jsonl").exists() else []
    extra: dict[str, Any] = {}
    validate = folder / f"{stem}-validate.json"
    if validate.exists():
        extra["validate"] = json.loads(validate.read_text())
    data = folder / f"{stem}-data.jsonl"
    if data.exists():
        extra["data"] = list(jsonl.read(data))
    mem = folder / f"{stem}-memory.jsonl"
    if mem.exists():
        extra["memory"] = list(jsonl.read(mem))
    loop = folder / f"{stem}-eventloop.jsonl"
    if loop.exists():
        extra["eventloop"] = list(jsonl.read(loop))
    return records, extra


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows),
    ]


def _machine(records: Sequence[Mapping[str, Any]]) -> str | None:
    for r in records:
        env = r.get("environment") or {}
        cpu = env.get("cpu") or {}
        if cpu:
            isa = [f for f in cpu.get("isa", []) if f.startswith("avx")]
            return (
                f"{cpu.get('model', '?')}, {cpu.get('usable_cores', '?')} usable cores, "
                f"{', '.join(isa[:4]) or 'no AVX'}; host `{env.get('host', '?')}`"
            )
    return None


def _published(study: Study) -> list[str]:
    out = [f"*Published:* {study.setup}."]
    if study.figures:
        out += [
            "",
            *_table(
                ["figure", f"published ({study.unit})"], [(k, f"{v:g}") for k, v in study.figures.items()]
            ),
        ]
    if study.claims:
        out += ["", *(f"- {c}" for c in study.claims)]
    return out


def section(
    study: Study, records: Sequence[dict[str, Any]], extra: Mapping[str, Any], mode: str
) -> list[str]:
    """The Markdown of one study."""
    out = [f"## {study.number}. {study.title}", "", *_published(study), ""]
    config = f"benchmarks/seeds/{study.config}{'.quick' if mode == 'quick' else ''}.yaml"
    if not records and not extra:
        return [
            *out,
            f"*Ours:* not run yet (`python benchmarks/seeds --study {study.number}`, config `{config}`).",
            "",
        ]
    result: Section = ANALYSES[study.number](records, extra)
    out += [f"*Ours* ({mode} mode, `{config}`):", ""]
    if result.rows:
        out += [
            *_table(["comparison (ratio, comparable across machines)", "published", "ours"], result.rows),
            "",
        ]
    if result.why:
        out += ["Why they differ: " + " ".join(result.why), ""]
    if result.missing:
        out += ["Not re-measured here:", "", *(f"- {m}" for m in result.missing), ""]
    rows = absolute_rows(records) + data_rows(extra.get("data", []))
    if rows:
        out += [
            "<details><summary>Absolute times (this 2-core machine, shared; not comparable with the "
            "published times)</summary>",
            "",
            *_table(["configuration", "per event (median)", "per event (p99)", "peak RSS"], rows),
            "",
            "</details>",
            "",
        ]
    return out


def render(folder: Path, studies: Sequence[int] | None = None, mode: str = "quick") -> str:
    """The whole page from the results in ``folder``."""
    numbers = list(studies or STUDIES)
    loaded = {n: load(folder, n) for n in numbers}
    machine = next((m for recs, _ in loaded.values() if (m := _machine(recs))), None)
    out = [
        "# The seed studies, re-measured",
        "",
        "The studies hepinfer exists because of (issue 11), each re-measured with one command, "
        "our figures beside the published ones. Compare the *ratios* (speed-ups, memory ratios, "
        "AUC differences): absolute times depend on the machine.",
        "",
        "```",
        "python benchmarks/seeds --quick               # every study, quick mode (minutes)",
        "python benchmarks/seeds --study 4 --out DIR   # one study, full timing",
        "```",
        "",
        f"Generated by `python benchmarks/seeds` from `{folder}` ({mode} mode). Absolute times are "
        f"from this machine: {machine or 'unknown'}, shared with other jobs while measuring, so "
        "they are noisier than on a quiet node. The quick mode uses short timing (0.3 s per "
        "configuration); run without `--quick` for figures to publish. The driver also writes "
        "the HTML twin of every record (`hepinfer report`, plots embedded) as `seeds.html` in the "
        "results folder; it is not committed (about 4 MB).",
        "",
        "Study 4 with the frameworks CMS first deployed (MXNet, TF1 GraphDefs) instead of the zoo's "
        "PyTorch stand-ins: `docs/cmssw-originals.md` (`benchmarks/cmssw_originals/`).",
        "",
    ]
    for n in numbers:
        records, extra = loaded[n]
        out += section(STUDIES[n], records, extra, mode)
    return "\n".join(out).rstrip() + "\n"


def write(folder: Path, page: Path, studies: Sequence[int] | None = None, mode: str = "quick") -> Path:
    """Render and write the page."""
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(folder, studies, mode))
    return page
