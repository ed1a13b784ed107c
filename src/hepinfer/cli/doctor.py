"""``hepinfer doctor MODEL [--fix OUT.onnx]``: what the export did wrong, the repair, the proof."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.errors import ConfigurationError

ORT_LEVELS = ("basic", "extended", "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the doctor command."""
    p.add_argument(
        "model", metavar="MODEL_OR_PATH", help="a zoo name (its export is examined) or an .onnx file"
    )
    p.add_argument(
        "--json", nargs="?", const="-", metavar="FILE", help="write the findings as JSON (to stdout: no FILE)"
    )
    p.add_argument(
        "--out", metavar="RESULTS.jsonl", help="store the findings beside these results for 'hepinfer report'"
    )
    p.add_argument(
        "--backends",
        help="comma-separated backends asked what they cannot run (default: every CPU backend "
        "that can tell; 'none' asks none)",
    )
    p.add_argument("--fix", metavar="OUT.onnx", help="write the repaired model here, check it, bench both")
    p.add_argument(
        "--simplify",
        choices=("auto", "onnxslim", "onnxsim", "builtin", "none"),
        default="auto",
        help="simplifier of --fix (auto: onnxslim, else onnxsim, else hepinfer's own; default: %(default)s)",
    )
    p.add_argument("--no-rebatch", action="store_true", help="keep a fixed batch size fixed in --fix")
    p.add_argument(
        "--ort-optimize",
        choices=ORT_LEVELS,
        help="also write ONNX Runtime's offline-optimised graph at this level (extended stays portable)",
    )
    p.add_argument("--no-bench", action="store_true", help="--fix without the side-by-side bench")
    p.add_argument(
        "--bench-backend", default="onnxruntime", help="backend of the bench (default: %(default)s)"
    )
    p.add_argument("--batch", type=int, help="batch of the bench (default: the model's)")
    p.add_argument(
        "--max-time",
        type=float,
        default=5.0,
        help="time cap per bench configuration, s (default: %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-worker timeout, s")
    parse.add_model_arguments(p, "unused by doctor")


def execute(ns: argparse.Namespace) -> int:
    """Examine; with --fix repair, check and bench. Exit 1 when an error-level finding stays."""
    from hepinfer import doctor
    from hepinfer.report.health import health_text

    if ns.option:
        raise ConfigurationError("--option: the doctor takes no backend options")
    params = parse.pairs(ns.param, "--param")
    asked = None if ns.backends is None else [] if ns.backends == "none" else ns.backends.split(",")
    ref, spec, path = doctor.onnx_file(ns.model, params, ns.exporter)
    health = doctor.examine_file(path, spec, ref.label, asked)
    report: dict[str, Any] = {"health": health.to_dict()}
    if ns.fix:
        report["fix"] = _fix(ns, path, spec)
    if ns.json == "-":
        print(json.dumps(report, indent=1, default=str))
    else:
        print(health_text(report["health"]))
        if ns.fix:
            print(_fix_text(report["fix"]))
        if ns.json:
            Path(ns.json).write_text(json.dumps(report, indent=1, default=str))
            print(f"findings written to {ns.json}", file=sys.stderr)
    if ns.out:
        stored = doctor.store(health, Path(ns.out))
        print(f"model health stored in {stored} for 'hepinfer report {ns.out}'", file=sys.stderr)
    return 1 if health.worst == "error" and not ns.fix else 0


def _fix(ns: argparse.Namespace, path: Path, spec: Any) -> dict[str, Any]:
    from hepinfer.doctor import examine_file, fixes
    from hepinfer.doctor.verify import side_by_side
    from hepinfer.measure.timer import TimingPolicy

    if ns.max_time <= 0 or ns.timeout <= 0:
        raise ConfigurationError("--max-time and --timeout must be positive")
    out = Path(ns.fix)
    if out.suffix != ".onnx":
        raise ConfigurationError(f"--fix {out}: give the path of the .onnx file to write")
    done = fixes.repair(path, out, spec, ns.simplify, not ns.no_rebatch, ns.ort_optimize)
    result: dict[str, Any] = done.to_dict()
    after = examine_file(out, None, out.name, [])
    result["findings_after"] = [f.code for f in after.findings]
    if not ns.no_bench:
        result["bench"] = side_by_side(
            path,
            out,
            ns.bench_backend,
            ns.batch,
            parse.dims(ns.dim),
            policy=TimingPolicy(max_time_s=ns.max_time),
            timeout_s=ns.timeout,
        )
    return result


def _fix_text(fix: dict[str, Any]) -> str:
    lines = [f"repaired model: {fix['path']}"]
    for step in fix["steps"]:
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in step.items()))
    lines.append(
        "  ONNX checker: " + (f"objects: {fix['checker']}" if fix["checker"] else "accepts the file")
    )
    lines.append("  findings left: " + (", ".join(fix["findings_after"]) or "none"))
    bench = fix.get("bench")
    if bench:
        lines.append(f"side by side on {bench['backend']}, batch {bench['batch']}:")
        for label, r in bench["runs"].items():
            if r["status"] != "ok":
                lines.append(f"  {label:>22}: error: {r['error']}")
                continue
            mem = (r["model_bytes"] or 0) / 1e6
            lines.append(
                f"  {label:>22}: median {r['median_ns'] / 1e3:9.2f} us"
                f"  per event {r['per_event_median_ns'] / 1e3:9.2f} us  load {r['load_s'] * 1e3:8.2f} ms"
                f"  model memory {mem:7.2f} MB  peak RSS {r['peak_rss_bytes'] / 1e6:7.1f} MB"
            )
        ratios = bench.get("ratios") or {}
        if ratios:
            lines.append(
                "  fixed / original: "
                + ", ".join(
                    f"{k.removesuffix('_ns').removesuffix('_s')} {v:.3f}"
                    for k, v in ratios.items()
                    if v is not None
                )
            )
        a = bench["agreement"]
        lines.append(
            f"  agreement on {a['events']} events: {a['verdict']}, max abs difference {a['max_abs']:.3g}"
        )
    return "\n".join(lines)
