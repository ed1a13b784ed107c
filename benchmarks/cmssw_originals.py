"""Study 4 of docs/seeds.md re-measured with the originals CMS deployed before ONNX Runtime.

DeepAK8 as an MXNet checkpoint, DeepDoubleB 94X and DeepJet V01 as TF1 frozen GraphDefs
(../shared/models/cms-originals), each against ONNX Runtime on its ONNX twin (CMS's own file;
for DeepJet V01, which has none, tf2onnx's conversion and the later Run3 training), per event
at batch 1 and 1 thread, beside the published seconds per event (CMSSW 2019). Agreement is
the original's outputs against the twin's on the same seeded inputs.

    PYTHONPATH=src python benchmarks/cmssw_originals.py [--max-time 5] [--out DIR]

Needs the mxnet venv (make mxnet) for DeepAK8. Prints a Markdown table and writes the
records and the table under benchmarks/results/cmssw_originals/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hepinfer.seeds.published import TAGGERS

from hepinfer.measure.timer import TimingPolicy
from hepinfer.runner.bench import BenchRequest, run

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "models"
ORIG = MODELS / "cms-originals"

# (study row, model, backends, request fields, what the ONNX side is)
CASES: list[tuple[str, str, list[str], dict[str, Any], str]] = [
    (
        "deepak8",
        str(ORIG / "DeepAK8_V02_full/resnet-symbol.json"),
        ["mxnet", "onnxruntime"],
        {
            "like": str(MODELS / "cms/DeepAK8_V02_full.onnx"),
            "options": {"mxnet": {"onednn": ["false", "true"]}},
        },
        "CMS's ONNX twin (DeepAK8_V02_full.onnx)",
    ),
    (
        "deepdoublex",
        str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.pb"),
        ["tensorflow", "onnxruntime"],
        {"like": str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.onnx"), "exporter": "twin"},
        "CMS's ONNX twin (DDB.onnx)",
    ),
    (
        "deepdoublex",
        str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.pb"),
        ["onnxruntime"],
        {"like": str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.onnx")},
        "tf2onnx's conversion of DDB.pb",
    ),
    (
        "deepjet",
        str(ORIG / "DeepJet_V01_GraphDef/constant_graph.pb"),
        ["tensorflow", "onnxruntime"],
        {
            "inputs": {
                "input_1": "B,15",
                "input_2": "B,25,16",
                "input_3": "B,25,6",
                "input_4": "B,4,12",
                "input_5": "B,1",
            }
        },
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


def main() -> int:
    """Measure every case, print the table, write records and table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-time", type=float, default=5.0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cmssw_originals"))
    ns = p.parse_args()
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "records.jsonl"
    rows = []
    for study, model, backends, extra, onnx_side in CASES:
        policy = TimingPolicy(max_time_s=ns.max_time)
        request = BenchRequest(
            model=model, backends=backends, batches=[1], threads=[1], policy=policy, **extra
        )
        for r in run(request, out=records_path):
            rows.append(_row(study, Path(model).name, onnx_side, r))
    table = _table(rows)
    print(table)
    (out / "table.md").write_text(table + "\n")
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    return 0


def _row(study: str, model: str, onnx_side: str, r: dict[str, Any]) -> dict[str, Any]:
    key = r["key"]
    label = key["backend"] + "".join(f"[{k}={v}]" for k, v in key["options"].items())
    row: dict[str, Any] = {"study": study, "model": model, "config": label, "onnx_side": onnx_side}
    if r["status"] != "ok":
        row["error"] = r["error"]["message"]
        return row
    settings = (r.get("backend") or {}).get("settings") or {}
    row["per_event_ms"] = r["stats"]["per_event_median_ns"] / 1e6
    row["versions"] = {
        k: settings[k] for k in ("mxnet", "tensorflow", "onednn_opts", "onednn") if k in settings
    }
    agreement = r.get("agreement") or {}
    if agreement.get("outputs"):
        row["max_abs_vs_original"] = max(o["max_abs"] for o in agreement["outputs"].values())
        row["verdict"] = agreement["verdict"]
    return row


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| tagger | model file | configuration | ONNX side | per event (ms) | original / this | "
        "published baseline / ORT-AVX | max abs vs original |",
        "|---|---|---|---|---|---|---|---|",
    ]
    native = {}
    for row in rows:
        if row["config"] in ("mxnet", "tensorflow") and "per_event_ms" in row:
            native.setdefault(row["study"], row["per_event_ms"])
    for row in rows:
        base, _, avx = TAGGERS[row["study"]]
        if "error" in row:
            lines.append(
                f"| {row['study']} | {row['model']} | {row['config']} | {row['onnx_side']} | "
                f"failed: {row['error']} | | | |"
            )
            continue
        ratio = native.get(row["study"], float("nan")) / row["per_event_ms"]
        agree = (
            f"{row['max_abs_vs_original']:.2g} ({row['verdict']})" if "max_abs_vs_original" in row else "-"
        )
        lines.append(
            f"| {row['study']} | {row['model']} | {row['config']} | "
            f"{row['onnx_side'] if row['config'].startswith('onnxruntime') else 'original'} | "
            f"{row['per_event_ms']:.3f} | {ratio:.2f}x | {base / avx:.2f}x | {agree} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
