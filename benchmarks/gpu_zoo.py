"""The GPU zoo benchmark (issue 10): jet_vae, event_vae, particlenet, deepak8 at batch 1, 64, 1024.

Run it on a machine with an NVIDIA GPU and the GPU extra installed (see docs/gpu.md):

    PYTHONPATH=src python benchmarks/gpu_zoo.py [--max-time 2] [--models event_vae,deepak8]

For each model it runs ``hepinfer bench`` once over the CPU backends (one thread: the HEP
production setting) and every GPU backend that is available here, at batch 1, 64 and 1024,
and writes under benchmarks/results/:

  gpu_zoo-<gpu>-<date>.jsonl   every record (raw samples, breakdown, device memory)
  gpu_zoo-<gpu>-<date>.md      the device, `hepinfer env`, each bench table, the crossover
                               lines, and per batch the best-CPU / best-GPU per-event ratio

A model that is not in this checkout's zoo runs from its real ONNX file in ../shared/models
where that has one (particlenet -> CMS ParticleNetAK8, deepak8 -> CMS DeepAK8), else it is
skipped with a note. It refuses to run (exit 2) where no GPU backend is available.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
RESULTS = ROOT / "benchmarks" / "results"
BATCHES = "1,64,1024"
CPU_BACKENDS = ("onnxruntime", "pytorch")
# backend -> --option values (several values: several configurations).
GPU_BACKENDS: dict[str, list[str]] = {
    "pytorch-cuda": ["pytorch-cuda.cuda_graph=false,true"],
    "onnxruntime-cuda": [],
    "onnxruntime-trt": ["onnxruntime-trt.precision=fp32,fp16", "onnxruntime-trt.profile=1:64:1024"],
    "tensorrt": ["tensorrt.precision=fp32,fp16", "tensorrt.profile=1:64:1024"],
}
# model -> (ONNX file under ../shared/models, --dim values) when the zoo lacks it.
FALLBACK_FILES = {
    "particlenet": ("cms/ParticleNetAK8_General_V01.onnx", ["n_pf=100", "n_sv=7"]),
    "deepak8": ("cms/DeepAK8_V02_full.onnx", []),
}


def hepinfer(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the hepinfer CLI of this checkout."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "hepinfer.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=ROOT,
    )


def model_target(name: str) -> tuple[str, list[str]] | None:
    """What to pass to bench for a model: its zoo name, or a real file with dims; None: skip."""
    sys.path.insert(0, str(ROOT / "src"))
    from hepinfer.zoo import ENTRIES

    if name in ENTRIES:
        return name, []
    if name in FALLBACK_FILES:
        rel, dims = FALLBACK_FILES[name]
        path = SHARED / rel
        if path.exists():
            return str(path), [a for d in dims for a in ("--dim", d)]
    return None


def per_event_ratios(records: list[dict[str, Any]]) -> list[str]:
    """Per model and batch: best CPU and best GPU per-event medians, and their ratio."""
    from hepinfer.report.crossover import config_label, is_gpu_record

    lines = []
    ok = [r for r in records if r["status"] == "ok"]
    for model in sorted({r["key"]["model"] for r in ok}):
        for batch in sorted({r["key"]["batch"] for r in ok if r["key"]["model"] == model}):
            here = [r for r in ok if r["key"]["model"] == model and r["key"]["batch"] == batch]
            cpu = [r for r in here if not is_gpu_record(r)]
            gpu = [r for r in here if is_gpu_record(r)]
            if not cpu or not gpu:
                continue
            c = min(cpu, key=lambda r: r["stats"]["per_event_median_ns"])
            g = min(gpu, key=lambda r: r["stats"]["per_event_median_ns"])
            cn, gn = c["stats"]["per_event_median_ns"], g["stats"]["per_event_median_ns"]
            lines.append(
                f"{model} batch {batch}: best CPU {config_label(c)} {cn / 1e3:.3g} us/event, "
                f"best GPU {config_label(g)} {gn / 1e3:.3g} us/event, CPU/GPU = {cn / gn:.3g}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the results file and the report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="jet_vae,event_vae,particlenet,deepak8")
    p.add_argument("--batch", default=BATCHES)
    p.add_argument("--max-time", default="2", help="time cap per configuration, s")
    p.add_argument("--min-calls", default="20")
    ns = p.parse_args(argv)

    env_proc = hepinfer("env", "--json")
    if env_proc.returncode != 0:
        print(env_proc.stderr, file=sys.stderr)
        return 1
    env = json.loads(env_proc.stdout)
    available = [b for b in GPU_BACKENDS if env["backends"][b]["status"] == "available"]
    for b in GPU_BACKENDS:
        if b not in available:
            print(f"gpu_zoo: {b} unavailable: {env['backends'][b]['reason']}", file=sys.stderr)
    if not available:
        print("gpu_zoo: no GPU backend is available here; run this on an NVIDIA GPU machine", file=sys.stderr)
        return 2

    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    device = (
        smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else "unknown GPU"
    )
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device.split(",")[0]).strip("-").lower()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%MZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"gpu_zoo-{slug}-{stamp}.jsonl"
    report = [f"# GPU zoo benchmark, {stamp}", "", f"Device: {device}", "", "## hepinfer env", "", "```"]
    report += [f"{k}: {v}" for k, v in env["backends"].items()] + ["```", ""]

    for model in ns.models.split(","):
        target = model_target(model)
        if target is None:
            note = f"{model}: not in this checkout's zoo and no real file for it in {SHARED}; skipped"
            print(f"gpu_zoo: {note}", file=sys.stderr)
            report += [f"## {model}", "", note, ""]
            continue
        what, dims = target
        zoo = what == model
        cpu = [
            b for b in CPU_BACKENDS if zoo or b != "pytorch"
        ]  # pytorch runs ONNX files only via onnx2torch
        gpu = [b for b in available if zoo or b != "pytorch-cuda"]
        options = [a for b in gpu for o in GPU_BACKENDS[b] for a in ("--option", o)]
        args = ["bench", what, "--backend", ",".join(cpu + gpu), "--batch", ns.batch, *dims, *options]
        args += ["--max-time", ns.max_time, "--min-calls", ns.min_calls, "--out", str(out)]
        print(f"gpu_zoo: hepinfer {' '.join(args)}", file=sys.stderr)
        proc = hepinfer(*args)
        report += [f"## {model}", "", f"`hepinfer {' '.join(args)}` (exit {proc.returncode})", "", "```"]
        report += [proc.stdout.rstrip(), "```", ""]
        if proc.returncode not in (0, 1):
            report += ["stderr:", "```", proc.stderr.rstrip()[-4000:], "```", ""]

    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    sys.path.insert(0, str(ROOT / "src"))
    ratios = per_event_ratios(records)
    report += ["## Best CPU vs best GPU, per event", "", *[f"- {line}" for line in ratios], ""]
    md = out.with_suffix(".md")
    md.write_text("\n".join(report) + "\n")
    print("\n".join(ratios))
    print(f"gpu_zoo: {len(records)} records in {out}; report {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
