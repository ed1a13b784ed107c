"""Two results files, configuration by configuration: ratio of medians and a Mann-Whitney U test.

B is called "faster" or "slower" than A only when the test on the raw samples rejects "same
distribution" at ``alpha`` *and* the medians differ by at least ``min_change``; otherwise "no
significant change". Records from different machines or library versions are refused unless
forced, because their timings say nothing about each other (pyperf's checked metadata).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from hepinfer.errors import ConfigurationError
from hepinfer.measure.environment import machine_fingerprint
from hepinfer.report import data
from hepinfer.report.table import fmt_ns, label

FASTER, SLOWER, SAME = "faster", "slower", "no significant change"
# Versions that do not change what is measured.
_IGNORED_VERSIONS = ("hepinfer",)


def compare_samples(
    a: Sequence[float], b: Sequence[float], alpha: float = 0.01, min_change: float = 0.02
) -> dict[str, Any]:
    """Ratio of medians (B/A), two-sided Mann-Whitney U p-value, and the verdict for B."""
    import numpy as np

    from hepinfer._optional import require

    mannwhitneyu = require("scipy.stats", "hepinfer compare (Mann-Whitney U)").mannwhitneyu

    if len(a) == 0 or len(b) == 0:
        raise ValueError("both samples need at least one value")
    med_a, med_b = float(np.median(a)), float(np.median(b))
    ratio = med_b / med_a if med_a > 0 else float("inf")
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    verdict = SAME
    if p < alpha and abs(ratio - 1.0) >= min_change:
        verdict = FASTER if ratio < 1.0 else SLOWER
    return {"median_a_ns": med_a, "median_b_ns": med_b, "ratio": ratio, "p_value": p, "verdict": verdict}


@dataclass
class Comparison:
    """Rows per configuration both files measured, and what only one of them has."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What differs between the environments of two records: machine and library versions."""
    out = []
    fa, fb = machine_fingerprint(a.get("environment") or {}), machine_fingerprint(b.get("environment") or {})
    for name in fa:
        if fa[name] != fb.get(name):
            out.append(f"{name} {fa[name]} vs {fb.get(name)}")
    va = (a.get("environment") or {}).get("versions") or {}
    vb = (b.get("environment") or {}).get("versions") or {}
    for name in sorted(set(va) & set(vb)):
        if name not in _IGNORED_VERSIONS and va[name] != vb[name]:
            out.append(f"{name} {va[name]} vs {vb[name]}")
    return out


def _describe(key: dict[str, Any]) -> str:
    return f"{key['model']} {label({'key': key})} batch {key['batch']} threads {key['threads']}"


def compare_records(
    a: Sequence[dict[str, Any]],
    b: Sequence[dict[str, Any]],
    force: bool = False,
    alpha: float = 0.01,
    min_change: float = 0.02,
) -> Comparison:
    """Pair the records by key and compare each pair; refuse incomparable ones unless forced."""
    by_a = {data.key_id(r): r for r in data.ok(a)}
    by_b = {data.key_id(r): r for r in data.ok(b)}
    result = Comparison()
    result.only_a = [_describe(by_a[k]["key"]) for k in by_a if k not in by_b]
    result.only_b = [_describe(by_b[k]["key"]) for k in by_b if k not in by_a]
    common = [k for k in by_a if k in by_b]
    if not common:
        raise ConfigurationError(
            "the two files have no configuration in common (same model, backend, "
            "options, batch, threads, dims): nothing to compare"
        )
    differ: dict[str, None] = {}
    for k in common:
        for d in differences(by_a[k], by_b[k]):
            differ[d] = None
    if differ and not force:
        raise ConfigurationError(
            f"the records come from different machines or library versions ({'; '.join(differ)}): "
            "their timings are not comparable; add --force to compare anyway"
        )
    if differ:
        result.warnings.append(f"compared despite differences: {'; '.join(differ)}")
    for k in common:
        ra, rb = by_a[k], by_b[k]
        row = compare_samples(ra["samples_ns"], rb["samples_ns"], alpha, min_change)
        batch = ra["key"]["batch"]
        row.update(
            {
                "key": ra["key"],
                "configuration": _describe(ra["key"]),
                "per_event_a_ns": row["median_a_ns"] / batch,
                "per_event_b_ns": row["median_b_ns"] / batch,
                "n_a": len(ra["samples_ns"]),
                "n_b": len(rb["samples_ns"]),
            }
        )
        result.rows.append(row)
    return result


def compare_files(
    a: Path, b: Path, force: bool = False, alpha: float = 0.01, min_change: float = 0.02
) -> Comparison:
    """compare_records on the latest record per configuration of each file."""
    return compare_records(data.load([a]), data.load([b]), force, alpha, min_change)


def compare_table(result: Comparison, title: str = "") -> Table:
    """The comparison as a rich table, changes coloured."""
    table = Table(title=title or None)
    for col, justify in (
        ("configuration", "left"),
        ("A per event", "right"),
        ("B per event", "right"),
        ("B/A", "right"),
        ("p-value", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colour = {FASTER: "green", SLOWER: "red"}
    for row in result.rows:
        v = row["verdict"]
        shown = f"[{colour[v]}]{v}[/{colour[v]}]" if v in colour else v
        table.add_row(
            row["configuration"],
            fmt_ns(row["per_event_a_ns"]),
            fmt_ns(row["per_event_b_ns"]),
            f"{row['ratio']:.3f}",
            f"{row['p_value']:.2g}",
            shown,
        )
    return table


def summary_lines(result: Comparison) -> list[str]:
    """The configurations only one side has (five named), and how many got faster or slower."""
    lines = []
    for what, items in (("only in A", result.only_a), ("only in B", result.only_b)):
        if items:
            shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
            lines.append(f"{len(items)} configuration(s) {what}: {shown}")
    counts = {v: sum(r["verdict"] == v for r in result.rows) for v in ("faster", "slower")}
    lines.append(
        f"B is faster in {counts['faster']}, slower in {counts['slower']}, "
        f"not significantly different in {len(result.rows) - sum(counts.values())} "
        f"of {len(result.rows)} configurations"
    )
    return lines
