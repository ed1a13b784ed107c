"""LoadGen's summary (``mlperf_log_summary.txt``) read into a dict, and the headline numbers and
verdicts of a scenario taken from it (standard library only: the worker parses, the parent
reads the headline)."""

from __future__ import annotations

import re
from typing import Any


def parse_summary(text: str) -> dict[str, Any]:
    """mlperf_log_summary.txt as a dict: ``key : value`` lines (numbers where they are), the
    bullet lists (``Recommendations``, ``Early Stopping Result``) as lists of lines, and the
    counts of errors and warnings LoadGen reports.

    A key seen again (the early-stopping estimates reuse latency names) is stored under
    ``section/key``, the section being the last ``===`` header.
    """
    out: dict[str, Any] = {"errors": 0, "warnings": 0}
    section = ""
    bullets: list[str] | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and set(stripped) == {"="}:
            section = lines[i - 1].strip() if i > 0 else ""
            continue
        if stripped.startswith("* ") and bullets is not None:
            bullets.append(stripped[2:])
            continue
        if stripped.endswith(":") and not stripped.startswith("*"):
            bullets = out.setdefault(stripped[:-1], [])
            continue
        bullets = None
        count = re.fullmatch(r"(\d+) (warning|ERROR)s? encountered\..*", stripped)
        if count:
            out["errors" if count.group(2) == "ERROR" else "warnings"] = int(count.group(1))
            continue
        key, sep, value = stripped.partition(":")
        if not sep or not key.strip() or not value.strip():
            continue
        name = key.strip()
        if name in out:
            name = f"{section}/{name}"
        out[name] = _number(value.strip())
    return out


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def early_stopping(summary: dict[str, Any]) -> dict[str, Any]:
    """LoadGen's early-stopping verdict and its percentile estimates (ns), by percentile."""
    lines = summary.get("Early Stopping Result", [])
    estimates = {}
    for line in lines:
        m = re.search(r"([\d.]+)th percentile estimate: *(\d+)", line)
        if m:
            estimates[f"p{float(m.group(1)):g}_ns"] = int(m.group(2))
    return {
        "satisfied": summary.get("Early stopping satisfied") == "Yes",
        "estimates": estimates,
        "lines": lines,
    }


def headline(scenario: str, summary: dict[str, Any]) -> dict[str, Any]:
    """The scenario's headline numbers and verdicts from the parsed summary."""
    out: dict[str, Any] = {
        "scenario": scenario,
        "valid": summary.get("Result is") == "VALID",
        "min_duration_satisfied": summary.get("Min duration satisfied") == "Yes",
        "min_queries_satisfied": summary.get("Min queries satisfied") == "Yes",
        "early_stopping": early_stopping(summary),
        "recommendations": summary.get("Recommendations", []),
        "loadgen_errors": summary.get("errors", 0),
        "latency_ns": {
            k.split()[0]: v
            for k, v in summary.items()
            if k.endswith("percentile latency (ns)") and k[0].isdigit() and not k.split()[0].endswith("th")
        },
        "mean_latency_ns": summary.get("Mean latency (ns)"),
    }
    if scenario == "SingleStream":
        out["p90_ns"] = summary.get("90.00 percentile latency (ns)")
        out["qps"] = summary.get("QPS w/o loadgen overhead")
    elif scenario == "Offline":
        out["samples_per_s"] = summary.get("Samples per second")
    else:
        out["scheduled_qps"] = summary.get("Scheduled samples per second")
        out["completed_qps"] = summary.get("Completed samples per second")
        out["p99_ns"] = summary.get("99.00 percentile latency (ns)")
        out["target_latency_satisfied"] = summary.get("Performance constraints satisfied") == "Yes"
    return out
