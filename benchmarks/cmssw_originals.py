"""Study 4 of docs/seeds.md re-measured with the originals CMS deployed before ONNX Runtime.

DeepAK8 as an MXNet checkpoint, DeepDoubleB 94X and DeepJet V01 as TF1 frozen GraphDefs
(../shared/models/cms-originals), each against ONNX Runtime on its ONNX twin (CMS's own file;
for DeepJet V01, which has none, tf2onnx's conversion and the later Run3 training), per event
at batch 1 and 1 thread, with and without an AVX2 cap on the originals' oneDNN (and MXNet's
OpenBLAS), beside the published seconds per event (CMSSW 2019).

Three parts (``--parts``, default all):

- ``timing``: ``hepinfer bench`` of every case, the ISA variants included;
- ``agreement``: original against twin on realistic padded jets (generated AK8 jets, inputs
  built by ``hepinfer.data.taggers``), one jet per call as CMSSW runs them, with the spread of
  the outputs (so that a 0 difference cannot hide one-hot saturation);
- ``verify``: one worker per capped configuration with oneDNN's verbose log on, to read the
  ISA oneDNN says it runs with and the kernels it picked (and OpenBLAS's core for MXNet).

    PYTHONPATH=src python benchmarks/cmssw_originals.py [--parts timing,agreement,verify]
        [--max-time 5] [--events 200] [--out DIR]

Needs the mxnet venv (make mxnet) for DeepAK8. Prints Markdown tables and writes the records,
``rows.json``, ``agreement.json``, ``verify.json`` and ``table.md`` under
benchmarks/results/cmssw_originals/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the seed studies' published numbers

from hepinfer.backends.registry import backend_class  # noqa: E402
from hepinfer.measure.agreement import compare  # noqa: E402
from hepinfer.measure.timer import TimingPolicy  # noqa: E402
from hepinfer.results.schema import Key  # noqa: E402
from hepinfer.runner.bench import BenchRequest, run  # noqa: E402
from hepinfer.runner.job import Job  # noqa: E402
from hepinfer.runner.launch import run_job  # noqa: E402
from hepinfer.runner.stage import interpreter_for, stage_job  # noqa: E402
from hepinfer.zoo import model_ref, spec_of  # noqa: E402
from seeds.published import TAGGERS  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"
ORIG = MODELS / "cms-originals"
AK8 = str(ORIG / "DeepAK8_V02_full/resnet-symbol.json")
AK8_TWIN = str(MODELS / "cms/DeepAK8_V02_full.onnx")
DDB = str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.pb")
DDB_TWIN = str(ORIG / "DeepDoubleX_94X_V01_DDB/DDB.onnx")
DEEPJET = str(ORIG / "DeepJet_V01_GraphDef/constant_graph.pb")
DEEPJET_SHAPES = {
    "input_1": "B,15",
    "input_2": "B,25,16",
    "input_3": "B,25,6",
    "input_4": "B,4,12",
    "input_5": "B,1",
}
ISAS = ["native", "avx2"]

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


# --- agreement on realistic jets ---------------------------------------------------------------


def realistic_jets(events: int = 200, seed: int = 1) -> Any:
    """The two leading AK8 jets of generated QCD and narrow-G* (W jets) events (cached)."""
    import awkward as ak

    from hepinfer.data import store
    from hepinfer.data.builders import leading_fatjets
    from hepinfer.data.generate import cached

    parts = [leading_fatjets(store.read(cached(p, events, seed)[0])) for p in ("qcd", "graviton-narrow")]
    return ak.concatenate(parts)


def worker_outputs(
    model: str,
    backend: str,
    inputs: Mapping[str, np.ndarray],
    work: Path,
    name: str,
    *,
    like: str | None = None,
    shapes: Mapping[str, str] | None = None,
    exporter: str = "twin",
    options: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
) -> tuple[dict[str, np.ndarray], str, dict[str, Any]]:
    """Run ``inputs`` through ``backend`` in a worker (its venv, as bench does), one event per
    call; returns the outputs, the worker's log and its result."""
    ref = model_ref(model, None, dict(shapes) if shapes else None, like)
    spec = spec_of(ref)
    opts = backend_class(backend).Options.from_strings(backend, dict(options or {})).variant()
    key = Key(model=ref.label, backend=backend, batch=1, threads=1, options=opts, exporter=exporter)
    fields, _, failed = stage_job(ref, spec, key)
    if failed is not None:
        raise RuntimeError(f"{name}: staging failed: {failed['error']['message']}")
    source = work / f"{name}.inputs.npz"
    np.savez(source, **inputs)  # type: ignore[arg-type]
    out = work / f"{name}.outputs.npz"
    entry = {
        "name": "realistic",
        "inputs": str(source),
        "outputs": str(out),
        "chunk": 1,
        "axes": {t.name: 0 for t in spec.inputs},
        "out_axes": {t.name: 0 for t in spec.outputs},
    }
    job = Job(key=key, model_ref=ref, spec=spec, measure=False, input_files=(entry,)).staged(fields)
    python = interpreter_for(key, ref, spec, fields)
    result = run_job(job.to_dict(), work, name, timeout_s, env=dict(env) if env else None, python=python)
    log = (work / f"{name}.log").read_text(errors="replace") if (work / f"{name}.log").exists() else ""
    if result.get("status") != "ok" or not out.exists():
        message = (result.get("error") or {}).get("message", "no outputs")
        raise RuntimeError(f"{name}: the worker failed: {message}")
    with np.load(out) as f:
        return {k: f[k] for k in f.files}, log, result


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


def _label(backend: str, options: Mapping[str, str]) -> str:
    return backend + "".join(f"[{k}={v}]" for k, v in options.items())


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
                        "original": _label(case["backend"], opts),
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


# --- did the cap take effect -------------------------------------------------------------------

VERBOSE = {"ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1"}


def read_verbose(log: str) -> dict[str, Any]:
    """oneDNN's version and ISA lines, and the kernel implementations its primitives ran."""
    info = {"version": None, "isa": None, "implementations": {}}
    impls: dict[str, int] = {}
    for line in log.splitlines():
        if not line.startswith(("onednn_verbose", "dnnl_verbose")):
            continue
        if ",info,oneDNN" in line:
            info["version"] = line.split(",info,", 1)[1]
        elif ",isa:" in line:
            info["isa"] = line.split(",isa:", 1)[1]
        elif ",exec,cpu," in line:
            parts = line.split(",exec,cpu,", 1)[1].split(",")
            if len(parts) >= 2:
                k = f"{parts[0]}:{parts[1]}"
                impls[k] = impls.get(k, 0) + 1
    info["implementations"] = dict(sorted(impls.items(), key=lambda kv: -kv[1])[:8])
    return info


VERIFY: list[tuple[str, str, dict[str, str], dict[str, Any], str]] = [
    ("deepak8", AK8, {"onednn": "true"}, {"like": AK8_TWIN}, "mxnet"),
    ("deepak8", AK8, {"onednn": "true", "isa": "avx2"}, {"like": AK8_TWIN}, "mxnet"),
    ("deepak8", AK8, {"onednn": "false"}, {"like": AK8_TWIN}, "mxnet"),
    ("deepak8", AK8, {"onednn": "false", "isa": "avx2"}, {"like": AK8_TWIN}, "mxnet"),
    ("deepdoublex", DDB, {}, {"like": DDB_TWIN}, "tensorflow"),
    ("deepdoublex", DDB, {"isa": "avx2"}, {"like": DDB_TWIN}, "tensorflow"),
    ("deepjet", DEEPJET, {}, {"shapes": DEEPJET_SHAPES}, "tensorflow"),
    ("deepjet", DEEPJET, {"isa": "avx2"}, {"shapes": DEEPJET_SHAPES}, "tensorflow"),
]


def verify(jets: Any, work: Path) -> list[dict[str, Any]]:
    """Each configuration once with oneDNN verbose on, on 3 jets: what ISA and kernels ran."""
    from hepinfer.data import taggers

    builders = {"deepak8": taggers.deepak8_inputs, "deepdoublex": taggers.deepdoubleb_inputs}
    builders["deepjet"] = taggers.deepjet_inputs
    rows = []
    for i, (tag, model, opts, ref_kw, backend) in enumerate(VERIFY):
        inputs = builders[tag](jets[:3])
        _, log, result = worker_outputs(
            model, backend, inputs, work, f"verify{i}", options=opts, env=VERBOSE, **ref_kw
        )
        settings = (result.get("backend") or {}).get("settings") or {}
        env = ((result.get("environment") or {}).get("thread_env")) or {}
        rows.append(
            {
                "tagger": tag,
                "config": _label(backend, opts),
                **read_verbose(log),
                "openblas_core": settings.get("openblas_core"),
                "isa_env": settings.get("isa_env"),
                "record_env": {k: v for k, v in env.items() if "ISA" in k or "CORETYPE" in k},
            }
        )
    return rows


def verify_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| tagger | configuration | oneDNN | ISA oneDNN reports | top kernels | OpenBLAS core |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        impls = ", ".join(f"{k} x{v}" for k, v in list(r["implementations"].items())[:3]) or "none run"
        version = re.sub(r"\s*\(commit.*", "", r["version"] or "not loaded")
        lines.append(
            f"| {r['tagger']} | {r['config']} | {version} | {r['isa'] or '-'} | {impls} | "
            f"{r['openblas_core'] or '-'} |"
        )
    return "\n".join(lines)


# --- timing ------------------------------------------------------------------------------------


def timing(max_time: float, records_path: Path) -> list[dict[str, Any]]:
    """Every case through hepinfer bench; one row per configuration."""
    rows = []
    for study, model, backends, extra, onnx_side in CASES:
        policy = TimingPolicy(max_time_s=max_time)
        request = BenchRequest(
            model=model, backends=backends, batches=[1], threads=[1], policy=policy, **extra
        )
        for r in run(request, out=records_path):
            rows.append(_row(study, Path(model).name, onnx_side, r))
    return rows


def _row(study: str, model: str, onnx_side: str, r: dict[str, Any]) -> dict[str, Any]:
    key = r["key"]
    label = key["backend"] + "".join(f"[{k}={v}]" for k, v in key["options"].items())
    row: dict[str, Any] = {"study": study, "model": model, "config": label, "onnx_side": onnx_side}
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


def main() -> int:
    """Run the parts asked for, print their tables, write records and tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="timing,agreement,verify")
    p.add_argument("--max-time", type=float, default=5.0)
    p.add_argument("--events", type=int, default=200, help="generated events per sample (2 jets each)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cmssw_originals"))
    ns = p.parse_args()
    parts = set(ns.parts.split(","))
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    if "timing" in parts:
        rows = timing(ns.max_time, out / "records.jsonl")
        (out / "rows.json").write_text(json.dumps(rows, indent=1))
        tables.append(timing_table(rows))
    if parts & {"agreement", "verify"}:
        from hepinfer.data.tagger_particles import particle_counts

        jets = realistic_jets(ns.events)
        with tempfile.TemporaryDirectory(prefix="cmssw-originals-") as tmp:
            if "agreement" in parts:
                rows = agreement(jets, Path(tmp))
                (out / "agreement.json").write_text(json.dumps(rows, indent=1))
                tables.append(agreement_table(rows, particle_counts(jets)))
            if "verify" in parts:
                rows = verify(jets, Path(tmp))
                (out / "verify.json").write_text(json.dumps(rows, indent=1))
                tables.append(verify_table(rows))
    text = "\n\n".join(tables)
    print(text)
    (out / f"table.{'-'.join(sorted(parts))}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
