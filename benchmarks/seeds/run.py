"""Run the seed studies: each study's sweep, and the validate, memory, event-loop and data runs.

Per study N (``benchmarks/seeds/studyN_*.yaml``, or ``*.quick.yaml`` in quick mode), the
configuration is copied into the output folder with the backends that cannot run here and the
ONNX files that are absent (``../shared/models``) left out, swept with ``--resume`` into
``DIR/studyN_*.jsonl``, then study 1 and 2 time the model on physics events from disk
(``bench --data``: generated G -> WW and QCD jets, real CMS events), study 2 and 7 run
``hepinfer validate``, study 3 ``hepinfer memory`` and study 4 ``hepinfer eventloop`` through
their Python APIs. The page
(docs/seeds.md style) and the HTML report (``hepinfer report``) are written from the folder.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seeds.published import STUDIES

# The configurations lie beside this file; their ONNX paths (../shared/models/...) are
# relative to the repository root.
CONFIGS = Path(__file__).resolve().parent
ROOT = CONFIGS.parents[1]


def config_path(number: int, quick: bool) -> Path:
    """The study's sweep configuration in benchmarks/seeds/."""
    return CONFIGS / f"{STUDIES[number].config}{'.quick' if quick else ''}.yaml"


def prepared(number: int, quick: bool) -> tuple[dict[str, Any], list[str]]:
    """The study's configuration with only what runs here; and what was left out, and why."""
    import yaml

    from hepinfer.backends.registry import usable

    data: dict[str, Any] = yaml.safe_load(config_path(number, quick).read_text())
    notes: list[str] = []
    names = set(data.get("backends", []))
    for m in data["models"]:
        if isinstance(m, dict):
            names |= set(m.get("backends", []))
    keep, dropped = usable(sorted(names))
    notes += [f"left out backend {b}: {why}" for b, why in dropped.items()]
    models: list[dict[str, Any] | str] = []
    for m in data["models"]:
        entry: dict[str, Any] = {"name": m} if isinstance(m, str) else dict(m)
        name = str(entry["name"])
        if name.endswith(".onnx"):
            path = (ROOT / name).resolve()
            if not path.exists():
                notes.append(f"left out {name}: not found (the real models live in ../shared/models)")
                continue
            entry["name"] = str(path)
        if "backends" in entry:
            entry["backends"] = [b for b in entry["backends"] if b in keep]
            if not entry["backends"]:
                continue
        if entry.get("options"):
            entry["options"] = {b: o for b, o in entry["options"].items() if b in keep}
        models.append(entry if len(entry) > 1 else entry["name"])
    data["models"] = models
    data["backends"] = [b for b in data.get("backends", []) if b in keep]
    for backend in list(data.get("options", {})):
        if backend not in keep:
            del data["options"][backend]
    return data, notes


def _validate(number: int, quick: bool, out: Path) -> None:
    from hepinfer.runner import validate
    from hepinfer.runner.validate.request import ValidateRequest

    events = 2000 if quick else 10_000
    request = {
        2: ValidateRequest(model="event_vae", backends=["onnxruntime"], checks=("agreement",)),
        7: ValidateRequest(
            model="gnn_tau",
            params={"form": "knn"},
            backends=["onnxruntime"],
            checks=("agreement", "physics"),
            physics_events=events,
            physics_chunk=500,
        ),
    }[number]
    report = validate.run_validation(request)
    out.write_text(json.dumps(report, indent=1, default=str))


def _eventloop(quick: bool, out: Path) -> None:
    from hepinfer.runner import eventloop

    request = eventloop.EventLoopRequest(
        model="deepjet",
        backends=["onnxruntime"],
        threads=(1,),
        modes=("shared",),
        strategies=("per-event", "per-object"),
        objects="ak4-ttbar",
        events=100 if quick else 2000,
    )
    if out.exists():
        out.unlink()
    eventloop.run_eventloop(request, out=out)


SAMPLES = ("graviton-narrow", "graviton-broad", "qcd")


def _data_runs(number: int, quick: bool, out: Path) -> None:
    """Disk-inclusive timing on physics events: study 1 on generated G -> WW and QCD jets
    (Pythia 8 + fastjet, cached), study 2 on the real packaged CMS events (hzz)."""
    from hepinfer.measure.timer import TimingPolicy
    from hepinfer.runner import bench

    policy = (
        TimingPolicy(max_time_s=0.3, min_calls=10, rel_ci=0.02, warmup_calls=3, warmup_s=0.02)
        if quick
        else TimingPolicy(max_time_s=5.0)
    )
    if number == 1:
        from hepinfer.data import generate

        events = 200 if quick else 2000
        files = [generate.cached(p, events, 1, None)[0] for p in SAMPLES]
        requests = [
            bench.BenchRequest(
                model="jet_vae",
                backends=("tensorflow", "onnxruntime"),
                batches=[1],
                policy=policy,
                data=str(f),
            )
            for f in files
        ]
    else:
        from hepinfer.data import real

        requests = [
            bench.BenchRequest(
                model="event_vae",
                params={"R": 39},
                backends=("pytorch", "onnxruntime"),
                batches=[1],
                policy=policy,
                data=str(real.path_of("hzz")),
            )
        ]
    if out.exists():
        out.unlink()
    for request in requests:
        bench.run_bench(request, out=out)


def _memory(quick: bool, out: Path) -> None:
    """Study 3: hepinfer memory against batch (RSS phases, theoretical minimum) of jet_vae
    (ONNX Runtime, TensorFlow) and of the seed's graph_vae (ONNX Runtime, PyTorch)."""
    from hepinfer.runner import memory

    batches = [1, 16, 256, 1024] if quick else [1, 4, 16, 64, 256, 1024]
    if out.exists():
        out.unlink()
    for model, backends in (
        ("jet_vae", ["onnxruntime", "tensorflow"]),
        ("graph_vae", ["onnxruntime", "pytorch"]),
    ):
        memory.run_memory(memory.MemoryRequest(model=model, backends=backends, batches=batches), out=out)


def run_study(number: int, quick: bool, folder: Path) -> list[str]:
    """Sweep one study (resuming) and run its extra checks; returns notes for the log."""
    import yaml

    from hepinfer.runner import sweep

    study = STUDIES[number]
    data, notes = prepared(number, quick)
    grid = folder / f"{study.config}.sweep.yaml"
    grid.write_text(yaml.safe_dump(data, sort_keys=False))
    if data["models"]:
        plan = sweep.load(grid)
        print(f"seeds: study {number} ({study.title}): {len(plan.keys)} configurations", file=sys.stderr)
        sweep.run_sweep(plan, folder / f"{study.config}.jsonl", resume=True)
    if number in (1, 2):
        _data_runs(number, quick, folder / f"{study.config}-data.jsonl")
    if number in (2, 7):
        _validate(number, quick, folder / f"{study.config}-validate.json")
    if number == 3:
        _memory(quick, folder / f"{study.config}-memory.jsonl")
    if number == 4:
        _eventloop(quick, folder / f"{study.config}-eventloop.jsonl")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/seeds [--quick] [--study N ...] [--out DIR] [--page FILE]``."""
    import argparse

    from hepinfer.errors import HepinferError
    from seeds import page

    p = argparse.ArgumentParser(prog="python benchmarks/seeds", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the quick configurations (minutes on 2 cores)")
    p.add_argument(
        "--study", type=int, action="append", choices=sorted(STUDIES), help="only this study (repeatable)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="results folder (default results/seeds or results/seeds-quick)"
    )
    p.add_argument("--page", type=Path, default=None, help="Markdown page to write (default DIR/seeds.md)")
    p.add_argument("--page-only", action="store_true", help="only rebuild the page from DIR")
    p.add_argument("--no-html", action="store_true", help="skip the HTML report (hepinfer report)")
    ns = p.parse_args(argv)
    folder: Path = ns.out or Path("results") / ("seeds-quick" if ns.quick else "seeds")
    folder.mkdir(parents=True, exist_ok=True)
    studies = ns.study or sorted(STUDIES)
    mode = "quick" if ns.quick else "full"
    try:
        if not ns.page_only:
            for n in studies:
                start = time.monotonic()
                for note in run_study(n, ns.quick, folder):
                    print(f"seeds: study {n}: {note}", file=sys.stderr)
                print(f"seeds: study {n} done in {time.monotonic() - start:.0f} s", file=sys.stderr)
        written = page.write(folder, ns.page or folder / "seeds.md", sorted(STUDIES), mode)
        print(f"seeds page: {written}")
        results = sorted(
            str(f) for f in folder.glob("study*.jsonl") if not f.name.endswith("-eventloop.jsonl")
        )
        if results and not ns.no_html:
            import hepinfer

            hepinfer.write_report(results, html=folder / "seeds.html")
    except HepinferError as err:
        print(f"seeds: error: {err}", file=sys.stderr)
        return 1
    return 0
