"""``hepinfer validate MODEL_OR_PATH``: are each backend's answers the reference's answers?"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from hepinfer.cli import args as parse
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the validate command."""
    _add_comparison_arguments(p)
    _add_check_arguments(p)
    _add_scan_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the input builder (default: %(default)s)")
    p.add_argument(
        "--out",
        help="JSON Lines file the report is appended to, as one record of kind validate "
        "(the report under its 'validate' key; --json prints the report alone)",
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-worker timeout, s")
    _add_layerwise_arguments(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report (the object --out writes) as one JSON object instead of the tables",
    )


def _add_comparison_arguments(p: argparse.ArgumentParser) -> None:
    """What is compared with what: the model, the backends, the reference, the tolerance."""
    p.add_argument("model", metavar="MODEL_OR_PATH", help="a zoo name (see 'hepinfer zoo') or an .onnx file")
    p.add_argument("--backend", default="onnxruntime", help="comma-separated backends (default: %(default)s)")
    p.add_argument(
        "--reference",
        help="backend the others are compared with (default: pytorch for zoo models, onnxruntime for files)",
    )
    parse.add_model_arguments(
        p,
        "backend option, one value (e.g. onnxruntime.optimization=disable)",
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="compute precision whose default tolerance applies (default: %(default)s)",
    )
    p.add_argument("--rtol", type=float, help="relative tolerance (overrides the precision's default)")
    p.add_argument("--atol", type=float, help="absolute tolerance (overrides the precision's default)")


def _add_check_arguments(p: argparse.ArgumentParser) -> None:
    """Which checks run, and what the reproducibility and physics checks vary."""
    from hepinfer.runner.validate import CHECKS

    p.add_argument(
        "--checks",
        default=",".join(CHECKS),
        help="comma-separated checks to run (default: all: %(default)s)",
    )
    p.add_argument(
        "--threads",
        help="comma-separated thread counts compared with 1 thread (default: the cores present)",
    )
    p.add_argument(
        "--batch",
        "--batch-sizes",  # the old name, kept working
        dest="batch_sizes",
        default="16,256",
        help="comma-separated batch sizes: an event alone vs inside batches of these sizes "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--physics-events",
        type=int,
        default=10_000,
        help="signal + background events for physics parity (default: %(default)s)",
    )
    p.add_argument(
        "--argmax",
        help="comma-separated classifier outputs whose argmax flips are counted "
        "(default: class-vector outputs of a softmax model)",
    )


def _add_scan_arguments(p: argparse.ArgumentParser) -> None:
    """The hls4ml fixed-point precision scan."""
    p.add_argument(
        "--precision-scan",
        nargs="?",
        const="8-18",
        metavar="WIDTHS",
        help="also scan hls4ml's ap_fixed total widths (e.g. 8-18 or 8,12,16; default 8-18)",
    )
    p.add_argument(
        "--scan-integer", type=int, help="integer bits of the scan (default: from observed ranges)"
    )
    p.add_argument(
        "--scan-threshold",
        type=float,
        default=0.01,
        help="largest physics impact (flip fraction) of a recommended width (default: %(default)s)",
    )
    p.add_argument("--scan-plot", help="write the precision scan's plot (PNG) to this file")


def _add_layerwise_arguments(p: argparse.ArgumentParser) -> None:
    """Layerwise validation: which node first turns NaN/Inf or leaves the tolerance."""
    p.add_argument(
        "--layerwise",
        action="store_true",
        help="expose every intermediate tensor and name the first node that turns NaN/Inf or "
        "leaves the tolerance (see --layerwise-mode)",
    )
    p.add_argument(
        "--layerwise-mode",
        choices=("backends", "padding"),
        default="backends",
        help="backends: the reference vs --backend on the same inputs; padding: an event vs the "
        "same event with --extra-padding zero particles, on the first --backend (default: %(default)s)",
    )
    p.add_argument(
        "--layerwise-inputs",
        choices=("padded", "realistic"),
        default="padded",
        help="input set of the backends mode (default: %(default)s)",
    )
    p.add_argument(
        "--extra-padding", type=int, default=8, help="padded particles added (default: %(default)s)"
    )


def request_from(ns: argparse.Namespace) -> Any:
    """The ValidateRequest the arguments describe."""
    from hepinfer.runner.validate import ValidateRequest

    if ns.timeout <= 0:
        raise ConfigurationError(f"--timeout {ns.timeout}: must be positive")
    if ns.physics_events < 100:
        raise ConfigurationError(f"--physics-events {ns.physics_events}: use 100 or more (10000 by default)")
    options: dict[str, dict[str, str]] = {}
    for b, kv in parse.options(ns.option).items():
        for k, values in kv.items():
            if len(values) != 1:
                raise ConfigurationError(f"--option {b}.{k}: validate takes one value per option")
            options.setdefault(b, {})[k] = values[0]
    sizes = parse.int_list(ns.batch_sizes, "--batch")
    if any(s < 2 for s in sizes):
        raise ConfigurationError(
            f"--batch {ns.batch_sizes}: the batch check compares an event alone with batches of "
            "2 or more events; give sizes of 2 or more"
        )
    request = ValidateRequest(
        precision_scan=_scan(ns, options),
        model=ns.model,
        backends=[b.strip() for b in ns.backend.split(",") if b.strip()],
        reference=ns.reference,
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        options=options,
        exporter=ns.exporter,
        seed=ns.seed,
        precision=ns.precision,
        rtol=ns.rtol,
        atol=ns.atol,
        checks=[c.strip() for c in ns.checks.split(",") if c.strip()],
        batch_sizes=sizes,
        physics_events=ns.physics_events,
        argmax=[a.strip() for a in ns.argmax.split(",")] if ns.argmax else None,
        timeout_s=ns.timeout,
    )
    if ns.threads:
        request = dataclasses.replace(request, threads=parse.int_list(ns.threads, "--threads"))
    return request


def _scan(ns: argparse.Namespace, options: dict[str, dict[str, str]]) -> Any:
    """The PrecisionScan of --precision-scan (None without it); hls4ml's other --option values."""
    if ns.precision_scan is None:
        return None
    from hepinfer.runner.validate.precision import PrecisionScan

    text = ns.precision_scan.strip()
    first, dash, last = text.partition("-")
    if dash and first.isdigit() and last.isdigit():
        widths = list(range(int(first), int(last) + 1))
    else:
        widths = parse.int_list(text, "--precision-scan")
    return PrecisionScan(
        widths=widths,
        integer=ns.scan_integer,
        threshold=ns.scan_threshold,
        options={k: v for k, v in options.get("hls4ml", {}).items() if k not in ("width", "integer")},
    )


def execute(ns: argparse.Namespace) -> int:
    """Validate, print the tables; exit 1 when a backend differs or fails."""
    from hepinfer.cli.progress import steps
    from hepinfer.report.console import stdout_console
    from hepinfer.report.validate import validate_tables
    from hepinfer.runner import validate

    if ns.layerwise:
        return _layerwise(ns)
    request = request_from(ns)
    validate.check(request)  # bad input fails here, before the progress bar and any worker
    with steps(None, "building inputs") as progress:
        running: list[str] = []

        def on_start(i: int, n: int, name: str) -> None:
            if running:  # the previous worker has finished when the next one starts
                progress.finish(name=f"worker {running.pop()}")
            progress.start(f"worker {name}", i, n)
            running.append(name)

        report = validate.run_validation(request, on_start=on_start)
        if running:
            progress.finish(name=f"worker {running.pop()}")
    scan = report.get("precision_scan")
    if scan is not None and "error" not in scan and ns.scan_plot:
        from hepinfer.report.precision import scan_plot

        scan["plot"] = str(scan_plot(scan, Path(ns.scan_plot)))
        print(f"precision scan plot written to {ns.scan_plot}", file=sys.stderr)
    if ns.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        console = stdout_console()
        for table in validate_tables(report):
            console.print(table)
        if scan is not None:
            from hepinfer.report.precision import scan_table

            if "error" in scan:
                print(f"hepinfer: precision scan: {scan['error']}", file=sys.stderr)
            else:
                console.print(scan_table(scan))
    if ns.out:
        _append(ns.out, validate.record(request, report))
    bad = [b["backend"] for b in report["backends"] if b.get("verdict") in ("different", "error")]
    if bad:
        print(
            f"hepinfer: {', '.join(bad)} disagree with the reference {report['reference']} "
            "or failed (see the tables)",
            file=sys.stderr,
        )
        return 1
    return 0


def layerwise_request(ns: argparse.Namespace) -> Any:
    """The LayerwiseRequest the arguments describe: two ONNX backends (the reference,
    ONNX Runtime by default, and --backend), or one for the padding mode."""
    from hepinfer.runner.validate.layerwise import LayerwiseRequest

    if ns.extra_padding < 1:
        raise ConfigurationError(f"--extra-padding {ns.extra_padding}: add at least 1 padded particle")
    given = [b.strip() for b in ns.backend.split(",") if b.strip()]
    if ns.layerwise_mode == "backends":
        reference = ns.reference or "onnxruntime"
        backends = (
            given
            if len(given) == 2 and not ns.reference
            else [reference, *[b for b in given if b != reference]]
        )
        if len(backends) == 1:
            backends.append("openvino")
    else:
        backends = given[:1] or ["onnxruntime"]
    options: dict[str, dict[str, str]] = {}
    for b, kv in parse.options(ns.option).items():
        options[b] = {k: v[0] for k, v in kv.items()}
    return LayerwiseRequest(
        model=ns.model,
        mode=ns.layerwise_mode,
        backends=backends,
        options=options,
        dims=parse.dims(ns.dim),
        params=parse.pairs(ns.param, "--param"),
        exporter=ns.exporter,
        seed=ns.seed,
        inputs=ns.layerwise_inputs,
        extra_padding=ns.extra_padding,
        precision=ns.precision,
        rtol=ns.rtol,
        atol=ns.atol,
        timeout_s=ns.timeout,
    )


def _layerwise(ns: argparse.Namespace) -> int:
    """Run the layerwise comparison, print where it goes wrong; exit 1 when a node does."""
    from hepinfer.report.layerwise import layerwise_text
    from hepinfer.runner.validate.layerwise import run_layerwise

    request = layerwise_request(ns)
    report = run_layerwise(request)
    print(layerwise_text(report))
    if ns.out:
        from hepinfer.runner.validate import record

        _append(ns.out, record(request, report, section="layerwise"))
    return 0 if report["first"] is None else 1


def _append(out: str, record: dict[str, Any]) -> None:
    """Append the record to the JSON Lines file ``out`` (as every command's --out does)."""
    from hepinfer.results import jsonl

    # The report holds numpy scalars and paths here and there: store them as JSON does.
    jsonl.append(Path(out), json.loads(json.dumps(record, default=str)))
    print(f"validate record appended to {out}", file=sys.stderr)
