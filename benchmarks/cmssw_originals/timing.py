"""Part ``timing``: ``hepinfer bench`` of every case, the ISA variants included, per event at
batch 1 and 1 thread, beside the published seconds per event (CMSSW 2019)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cmssw_originals.models import AK8, AK8_TWIN, DDB, DDB_TWIN, DEEPJET, DEEPJET_SHAPES, ISAS, MODELS
from cmssw_originals.worker import config_label
from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run_bench
from seeds.published import TAGGERS

# (study row, model, backends, request fields, what the ONNX side is)
CASES: list[tuple[str, str, list[str], dict[str, Any], str]] = [
    (
        "deepak8",
        AK8,
        ["mxnet", "onnxruntime"],
        {"like": AK8_TWIN, "options": {"mxnet": {"onednn": ["false", "true"], "isa": ISAS}}},
        "CMS's ONNX twin (DeepAK8_V02_full.onnx)",
    ),
    (
        "deepdoublex",
        DDB,
        ["tensorflow", "onnxruntime"],
        {"like": DDB_TWIN, "exporter": "twin", "options": {"tensorflow": {"isa": ISAS}}},
        "CMS's ONNX twin (DDB.onnx)",
    ),
    (
        "deepdoublex",
        DDB,
        ["onnxruntime"],
        {"like": DDB_TWIN},
        "tf2onnx's conversion of DDB.pb",
    ),
    (
        "deepjet",
        DEEPJET,
        ["tensorflow", "onnxruntime"],
        {"inputs": DEEPJET_SHAPES, "options": {"tensorflow": {"isa": ISAS}}},
        "tf2onnx's conversion of constant_graph.pb",
    ),
    (
        "deepjet",
        str(MODELS / "cms/DeepJet_Run3_122X.onnx"),
        ["onnxruntime"],
        {},
        "DeepJet_Run3_122X.onnx (a later training, same architecture)",
    ),
]


def timing(max_time: float, records_path: Path) -> list[dict[str, Any]]:
    """Every case through hepinfer bench; one row per configuration."""
    rows = []
    for study, model, backends, extra, onnx_side in CASES:
        policy = TimingPolicy(max_time_s=max_time)
        request = BenchRequest(
            model=model, backends=backends, batches=[1], threads=[1], policy=policy, **extra
        )
        for r in run_bench(request, out=records_path):
            rows.append(_row(study, Path(model).name, onnx_side, r))
    return rows


def _row(study: str, model: str, onnx_side: str, r: dict[str, Any]) -> dict[str, Any]:
    key = r["key"]
    row: dict[str, Any] = {
        "study": study,
        "model": model,
        "config": config_label(key["backend"], key["options"]),
        "onnx_side": onnx_side,
    }
    if r["status"] != "ok":
        row["error"] = r["error"]["message"]
        return row
    settings = (r.get("backend") or {}).get("settings") or {}
    row["per_event_ms"] = r["stats"]["per_event_median_ns"] / 1e6
    # On a loaded machine the median takes the other jobs' share; the fastest calls (the 10th
    # percentile, the minimum) are closer to the model's own cost. Batch 1: a call is an event.
    samples = np.asarray(r.get("samples_ns") or [np.nan], dtype=float) / 1e6
    row["p10_ms"], row["min_ms"] = float(np.percentile(samples, 10)), float(samples.min())
    row["noisy"] = bool(r["stats"].get("noisy"))
    row["versions"] = {
        k: settings[k]
        for k in ("mxnet", "tensorflow", "onednn_opts", "onednn", "isa", "isa_env", "openblas_core")
        if k in settings
    }
    agreement = r.get("agreement") or {}
    if agreement.get("outputs"):
        row["max_abs_vs_original"] = max(o["max_abs"] for o in agreement["outputs"].values())
        row["verdict"] = agreement["verdict"]
    return row


def timing_table(rows: list[dict[str, Any]]) -> str:
    """Per event (ms), each original configuration over ONNX Runtime on each ONNX side."""
    lines = [
        "| tagger | model file | configuration | ONNX side | per event (ms): median, p10, min "
        "| native original / this (median, p10) | published: baseline, ORT-SSE, ORT-AVX (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    native: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["config"] in ("mxnet", "tensorflow") and "per_event_ms" in row:
            native.setdefault(row["study"], row)
    for row in rows:
        base, sse, avx = TAGGERS[row["study"]]
        published = f"{base * 1e3:.2f}, {sse * 1e3:.2f}, {avx * 1e3:.2f}"
        if "error" in row:
            lines.append(
                f"| {row['study']} | {row['model']} | {row['config']} | | failed: {row['error']} | | |"
            )
            continue
        ref = native.get(row["study"], {})
        ratio = ref.get("per_event_ms", float("nan")) / row["per_event_ms"]
        ratio10 = ref.get("p10_ms", float("nan")) / row["p10_ms"]
        side = row["onnx_side"] if row["config"].startswith("onnxruntime") else "original"
        noisy = " (noisy)" if row["noisy"] else ""
        lines.append(
            f"| {row['study']} | {row['model']} | {row['config']} | {side} | "
            f"{row['per_event_ms']:.3f}, {row['p10_ms']:.3f}, {row['min_ms']:.3f}{noisy} | "
            f"{ratio:.2f}x, {ratio10:.2f}x | {published} |"
        )
    return "\n".join(lines)
