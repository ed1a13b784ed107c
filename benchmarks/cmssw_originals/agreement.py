"""Part ``agreement``: each original (every configuration) against its twins on realistic jets,
with the spread of the outputs (so that a 0 difference cannot hide one-hot saturation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cmssw_originals.models import AK8, AK8_TWIN, DDB, DDB_TWIN, DEEPJET, DEEPJET_SHAPES
from cmssw_originals.worker import config_label, worker_outputs
from hepinfer.measure.agreement import compare

# (tagger, original, original backend, its configurations, input builder, model kwargs, twins)
# twins: (label, ONNX model or the original itself for tf2onnx, exporter)
AGREEMENT: list[dict[str, Any]] = [
    {
        "tagger": "deepak8",
        "model": AK8,
        "backend": "mxnet",
        "configs": [{"onednn": "false"}, {"onednn": "true"}, {"onednn": "true", "isa": "avx2"}],
        "builder": "deepak8_inputs",
        "ref": {"like": AK8_TWIN},
        "twins": [("CMS's twin DeepAK8_V02_full.onnx", AK8, {"like": AK8_TWIN}, "twin")],
    },
    {
        "tagger": "deepdoublex",
        "model": DDB,
        "backend": "tensorflow",
        "configs": [{}, {"isa": "avx2"}],
        "builder": "deepdoubleb_inputs",
        "ref": {"like": DDB_TWIN},
        "twins": [
            ("CMS's twin DDB.onnx", DDB, {"like": DDB_TWIN}, "twin"),
            ("tf2onnx's conversion of DDB.pb", DDB, {"like": DDB_TWIN}, "dynamo"),
        ],
    },
    {
        "tagger": "deepjet",
        "model": DEEPJET,
        "backend": "tensorflow",
        "configs": [{}, {"isa": "avx2"}],
        "builder": "deepjet_inputs",
        "ref": {"shapes": DEEPJET_SHAPES},
        "twins": [
            ("tf2onnx's conversion of constant_graph.pb", DEEPJET, {"shapes": DEEPJET_SHAPES}, "dynamo")
        ],
    },
]


def agreement(
    jets: Any, work: Path, cases: list[dict[str, Any]] | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """Per tagger: the original (each configuration) against each twin on the same jets."""
    from hepinfer.data import taggers

    rows = []
    for case in cases or AGREEMENT:
        builder: Callable[..., dict[str, np.ndarray]] = getattr(taggers, case["builder"])
        inputs = builder(jets, seed=seed)
        tag = case["tagger"]
        twins = {}
        for i, (label, model, ref_kw, exporter) in enumerate(case["twins"]):
            outs, _, _ = worker_outputs(
                model, "onnxruntime", inputs, work, f"{tag}-twin{i}", exporter=exporter, **ref_kw
            )
            twins[label] = outs
        for j, opts in enumerate(case["configs"]):
            orig, _, result = worker_outputs(
                case["model"], case["backend"], inputs, work, f"{tag}-orig{j}", options=opts, **case["ref"]
            )
            probs = next(iter(orig.values()))  # the class probabilities come first
            spread = taggers.output_spread(probs)
            settings = (result.get("backend") or {}).get("settings") or {}
            for label, outs in twins.items():
                common = [k for k in orig if k in outs]
                summary = compare(
                    {k: orig[k] for k in common}, {k: outs[k] for k in common}, argmax=[common[0]]
                )
                o = summary["outputs"][common[0]]
                rows.append(
                    {
                        "tagger": tag,
                        "original": config_label(case["backend"], opts),
                        "twin": label,
                        "jets": len(probs),
                        "output": common[0],
                        "max_abs": o["max_abs"],
                        "ulp_max_above_atol": o.get("ulp_max_above_atol"),
                        "argmax_flips": o.get("argmax_flips", 0.0),
                        "fraction_within": o["fraction_within"],
                        "verdict": o["verdict"],
                        "rtol": summary["rtol"],
                        "atol": summary["atol"],
                        "spread": spread,
                        "isa_env": settings.get("isa_env"),
                        "openblas_core": settings.get("openblas_core"),
                    }
                )
    return rows


def agreement_table(rows: list[dict[str, Any]], counts: np.ndarray | None = None) -> str:
    """Markdown: one row per (original configuration, twin)."""
    lines = [
        "| tagger | original | twin | jets | max abs | max ULP (above atol) | argmax flips | within tol "
        "| median max-prob (p10-p90) | saturated (>0.999) | median entropy / max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["spread"]
        n = r["jets"]
        lines.append(
            f"| {r['tagger']} | {r['original']} | {r['twin']} | {n} | {r['max_abs']:.2g} | "
            f"{r['ulp_max_above_atol']} | {round(r['argmax_flips'] * n)}/{n} | "
            f"{r['fraction_within']:.4f} | {s['max_prob_median']:.3f} ({s['max_prob_p10']:.2f}-"
            f"{s['max_prob_p90']:.2f}) | {s['saturated_fraction']:.1%} | "
            f"{s['entropy_median']:.2f} / {s['entropy_max']:.2f} |"
        )
    if counts is not None:
        q = np.percentile(counts, [10, 50, 90])
        lines.append(
            f"\nParticles per jet (pT > 1 GeV, of DeepAK8's 100 slots): 10% {q[0]:.0f}, median "
            f"{q[1]:.0f}, 90% {q[2]:.0f}; {np.mean(counts > 100):.1%} truncated at 100."
        )
    return "\n".join(lines)
