"""Records as a report sees them: the latest per configuration, grouped per model, summarised.

Every figure, table and recommendation of the reports comes from these functions, which read
result records only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hepinfer.errors import ResultsError
from hepinfer.report.cells import label
from hepinfer.report.processes import combined, group_of
from hepinfer.report.speedups import speedups
from hepinfer.results import jsonl
from hepinfer.results.record import step_seconds

MiB = 1024.0 * 1024.0
# Equal values whose bits differ (signed zeros, another dtype) agree: only "identical" is bitwise.
GOOD_VERDICTS = ("reference", "identical", "equal values, not bitwise", "within tolerance")


def key_id(record: dict[str, Any]) -> str:
    """The configuration's identity as a canonical string (equal keys, equal strings)."""
    return json.dumps(record["key"], sort_keys=True, default=str)


def load(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Bench records of the files, one row per configuration in first-seen order: its latest
    run, the K processes of a ``bench --repeat K`` run combined (``report.processes``)."""
    latest: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for record in jsonl.read(path):
            if record.get("kind", "bench") == "bench" and isinstance(record.get("key"), dict):
                ident, group = key_id(record), group_of(record)
                run = latest.get(ident)
                if group is not None and run and group_of(run[-1]) == group:
                    run.append(record)  # another process of the same run
                else:
                    latest[ident] = [record]  # later runs win; dict keeps first-seen order
    if not latest:
        raise ResultsError(f"no bench records in {', '.join(map(str, paths))}")
    return [combined(run) for run in latest.values()]


def model_name(record: dict[str, Any]) -> str:
    """The model as a report section names it: its label, with non-default dims."""
    key = record["key"]
    dims = ",".join(f"{k}={v}" for k, v in sorted((key.get("dims") or {}).items()))
    return f"{key['model']} ({dims})" if dims else str(key["model"])


def by_model(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records per model section, in first-seen order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(model_name(r), []).append(r)
    return out


def ok(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that measured something."""
    return [r for r in records if r.get("status") == "ok" and r.get("stats")]


def config_label(record: dict[str, Any], with_device: bool = False) -> str:
    """Backend with options, and the device when asked: ``onnxruntime[iobinding=True]@cuda``."""
    text = label(record)
    device = record["key"].get("device", "cpu")
    return f"{text}@{device}" if with_device or device != "cpu" else text


def verdict(record: dict[str, Any]) -> str:
    """The agreement verdict ('unknown' when none was computed)."""
    return str((record.get("agreement") or {}).get("verdict", "unknown"))


def agrees(record: dict[str, Any]) -> bool:
    """Whether the outputs are the reference's, identical, equal in value or within tolerance."""
    return verdict(record) in GOOD_VERDICTS


def worst_abs(record: dict[str, Any]) -> float | None:
    """Largest absolute difference from the reference over the outputs, when known."""
    outputs = (record.get("agreement") or {}).get("outputs") or {}
    values = [o["max_abs"] for o in outputs.values() if isinstance(o.get("max_abs"), int | float)]
    return max(values) if values else None


def speedup_of(records: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Speed-up vs the reference (native framework) at the same batch and threads, by record id."""
    return speedups(list(records))


def memory_mib(record: dict[str, Any]) -> dict[str, float]:
    """Peak RSS, the model's load and run increments, and the theoretical minimum, in MiB."""
    mem = record.get("memory") or {}
    out: dict[str, float] = {}
    if isinstance(mem.get("peak_rss"), int | float):
        out["peak"] = mem["peak_rss"] / MiB
    if isinstance(mem.get("rss_after_load"), int | float) and isinstance(
        mem.get("rss_after_import"), int | float
    ):
        out["load"] = (mem["rss_after_load"] - mem["rss_after_import"]) / MiB
    if isinstance(mem.get("rss_after_run"), int | float) and isinstance(
        mem.get("rss_after_load"), int | float
    ):
        out["run"] = (mem["rss_after_run"] - mem["rss_after_load"]) / MiB
    minimum = theoretical_min_bytes(record)
    if minimum is not None:
        out["theoretical_min"] = minimum / MiB
    return out


def theoretical_min_bytes(record: dict[str, Any]) -> float | None:
    """The theoretical minimum memory (weights + peak live activations) the worker recorded."""
    minimum = (record.get("memory") or {}).get("minimum") or {}
    value = minimum.get("total_bytes")
    return float(value) if isinstance(value, int | float) else None


# Backends whose ``settings.compile_s`` was the worker's compilation before ``one_off.compile_s``
# existed; SOFIE's and hls4ml's is their build in the parent (``one_off.conversion``).
_COMPILE_IN_SETTINGS = ("openvino", "pytorch")


def one_off(record: dict[str, Any]) -> dict[str, Any]:
    """Import, conversion (parent), load, compilation (worker) and first-call times in seconds.

    ``conversion_s`` is what the parent's steps cost this run (SOFIE's code generation and C++
    build included; a cache hit 0), ``compile_s`` the worker's compilation between load and
    the first call (None: the backend compiles nothing). Records from before ``one_off.compile_s``
    give the figure OpenVINO and torch.compile stored in their settings.
    """
    o = record.get("one_off") or {}
    conversion = 0.0
    cached = True
    for step in (o.get("conversion") or {}).values():
        if isinstance(step, dict):
            conversion += step_seconds(step)
            cached = cached and bool(step.get("cached"))
    first = o.get("first_call_ns")
    compiled = o.get("compile_s")
    if compiled is None and record["key"].get("backend") in _COMPILE_IN_SETTINGS:
        compiled = ((record.get("backend") or {}).get("settings") or {}).get("compile_s")
    return {
        "import_s": o.get("import_s"),
        "conversion_s": conversion if o.get("conversion") else None,
        "conversion_cached": cached if o.get("conversion") else None,
        "load_s": o.get("load_s"),
        "compile_s": compiled if isinstance(compiled, int | float) else None,
        "compile_cached": o.get("engine_cache_hit") if isinstance(o.get("engine_cache_hit"), bool) else None,
        "first_call_s": first / 1e9 if isinstance(first, int | float) else None,
    }


ONE_OFF_HEADERS = ("import", "conversion (parent)", "load", "compile (worker)", "first call")
ONE_OFF_LEGEND = (
    "conversion (parent): made before the worker starts (export to ONNX, SOFIE's code generation "
    "and C++ build), 0 s on a cache hit; compile (worker): in the measured process after load "
    "and before the first call (torch.compile with the call that triggers it, OpenVINO "
    "compile_model, a TensorRT engine build); neither is in load or first call; "
    "— : the backend compiles nothing"
)


def one_off_cells(record: dict[str, Any]) -> list[str]:
    """The one-off figures of a record as table cells, in ``ONE_OFF_HEADERS`` order."""
    o = one_off(record)

    def s(v: Any) -> str:
        return f"{v:.3g} s" if isinstance(v, int | float) else "-"

    conv = s(o["conversion_s"]) + (" (cached)" if o["conversion_cached"] else "")
    compiled = "—" if o["compile_s"] is None else s(o["compile_s"])
    if o["compile_cached"]:
        compiled += " (cached engine)"
    return [s(o["import_s"]), conv, s(o["load_s"]), compiled, s(o["first_call_s"])]


def recommend(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    """The fastest agreeing configuration at batch 1 single-thread, and the highest throughput.

    Configurations whose outputs differ from the reference are never recommended.
    """
    good = [r for r in ok(records) if agrees(r)]
    latency = [r for r in good if r["key"]["batch"] == 1 and r["key"]["threads"] == 1]
    return {
        "latency": min(latency, key=lambda r: r["stats"]["median_ns"], default=None),
        "throughput": max(good, key=lambda r: r["stats"]["throughput_eps"], default=None),
    }


def environments(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct machines and library versions the records ran on."""
    seen: dict[str, dict[str, Any]] = {}
    for r in records:
        env = r.get("environment") or {}
        if not env:
            continue
        cpu = env.get("cpu") or {}
        summary = {
            "host": env.get("host"),
            "os": env.get("os"),
            "python": env.get("python"),
            "cpu": cpu.get("model"),
            "isa": " ".join(cpu.get("isa") or []),
            "cores": f"{cpu.get('usable_cores')} usable / {cpu.get('logical_cores')} logical",
            "memory": f"{(cpu.get('memory_bytes') or 0) / MiB / 1024:.1f} GiB",
            "thread_env": " ".join(f"{k}={v}" for k, v in (env.get("thread_env") or {}).items()) or "-",
        }
        ident = json.dumps(summary, sort_keys=True, default=str)
        entry = seen.setdefault(ident, {**summary, "versions": {}})
        entry["versions"].update(env.get("versions") or {})
    return list(seen.values())


def safe_id(text: str) -> str:
    """An HTML id / file-name-safe form of a model name."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per configuration: the CSV and Markdown tables."""
    ups = speedup_of(records)
    out = []
    for r in records:
        k = r["key"]
        row: dict[str, Any] = {
            "model": model_name(r),
            "backend": k["backend"],
            "options": ";".join(f"{n}={v}" for n, v in sorted(k.get("options", {}).items())),
            "device": k.get("device", "cpu"),
            "batch": k["batch"],
            "threads": k["threads"],
            "status": r.get("status"),
        }
        s = r.get("stats") or {}
        for name in (
            "median_ns",
            "ci_low_ns",
            "ci_high_ns",
            "p99_ns",
            "per_event_median_ns",
            "throughput_eps",
            "n",
        ):
            row[name] = s.get(name)
        proc = r.get("processes") or {}
        row["processes"] = proc.get("measured", 1)  # worker processes this row combines
        row["ci_method"] = s.get("ci_method")
        row["ci_confidence"] = s.get("confidence")
        row["p90_ns"] = s.get("p90_ns")
        row["tail_note"] = s.get("tail_note")
        row["speedup"] = ups.get(r["record_id"])
        row["agreement"] = verdict(r) if r.get("status") == "ok" else ""
        row["max_abs_diff"] = worst_abs(r)
        mem = memory_mib(r)
        row["peak_rss_mib"] = mem.get("peak")
        row["theoretical_min_mib"] = mem.get("theoretical_min")
        row.update(one_off(r))
        row["host"] = (r.get("sweep") or {}).get("host") or (r.get("environment") or {}).get("host")
        row["error"] = (r.get("error") or {}).get("message", "")
        out.append(row)
    return out
