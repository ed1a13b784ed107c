"""Part ``verify``: did the ISA cap take effect? One worker per capped configuration with
oneDNN's verbose log on: the ISA oneDNN reports, the kernels it picked, OpenBLAS's core."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cmssw_originals.models import AK8, AK8_TWIN, DDB, DDB_TWIN, DEEPJET, DEEPJET_SHAPES
from cmssw_originals.worker import config_label, worker_outputs

VERBOSE = {"ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1", "MKLDNN_VERBOSE": "1"}


def read_verbose(log: str) -> dict[str, Any]:
    """oneDNN's version and ISA lines, and the kernel implementations its primitives ran."""
    info: dict[str, Any] = {"version": None, "isa": None, "implementations": {}}
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
                "config": config_label(backend, opts),
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
