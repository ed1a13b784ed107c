"""Two results files (or one, along an axis of the key): is B faster, slower, or not
distinguishable from A?

The unit of comparison is the worker process, not the call. The samples of one process share
its memory layout, its thread placement and its moment on the machine, so a test that counts
every call as independent (a Mann-Whitney U on the pooled samples) mistakes the process's
luck for a property of the configuration and calls identical runs different at p = 1e-19.
As pyperf does, each configuration is measured in K processes (``bench --repeat K``) and the
test is a Welch t-test on the logarithms of the K per-process per-event medians: its variance
is the variance between processes, the one a rerun meets. The effect is the ratio of the
geometric means (B/A) with its (1 - alpha) interval from the same t distribution.

B is called "faster" or "slower" only when p < ``alpha`` *and* the ratio differs from 1 by at
least ``min_change``; otherwise "not significant". With one process on a side the variance
between processes is unknown, and the answer is "not significant" with that reason, whatever
the samples look like. Records from different machines or library versions are refused
unless forced, because their timings say nothing about each other (pyperf's checked metadata).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from hepinfer.errors import ConfigurationError, ResultsError
from hepinfer.measure.environment import machine_fingerprint
from hepinfer.report.cells import fmt_ns, label
from hepinfer.results import jsonl

FASTER, SLOWER, SAME = "faster", "slower", "not significant"
# Versions that do not change what is measured.
_IGNORED_VERSIONS = ("hepinfer",)
# Fields of the key that ``--by`` can compare along.
AXES = ("backend", "batch", "threads", "options", "model", "device", "exporter")
TOO_FEW = "one process on a side: the variance between processes is unknown (bench --repeat 3 or more)"


def compare_processes(
    a: Sequence[float], b: Sequence[float], alpha: float = 0.05, min_change: float = 0.02
) -> dict[str, Any]:
    """B against A from per-process values (per-event medians, ns): ratio, interval, p, verdict.

    ``ratio`` is the ratio of geometric means B/A; ``ci_low``/``ci_high`` its (1 - alpha)
    interval and ``p_value`` the two-sided Welch t-test on the logarithms (both None with a
    single process on a side, where ``reason`` says why nothing can be told).
    """
    import numpy as np

    from hepinfer._optional import require

    stats = require("scipy.stats", "hepinfer compare (Welch's t-test on per-process medians)")

    if len(a) == 0 or len(b) == 0:
        raise ValueError("both sides need at least one process")
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    diff = float(lb.mean() - la.mean())
    out: dict[str, Any] = {
        "a_ns": float(np.exp(la.mean())),
        "b_ns": float(np.exp(lb.mean())),
        "ratio": math.exp(diff),
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "n_a": len(a),
        "n_b": len(b),
        "verdict": SAME,
        "reason": None,
    }
    if len(a) < 2 or len(b) < 2:
        out["reason"] = TOO_FEW
        return out
    va, vb = float(la.var(ddof=1)) / len(a), float(lb.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:  # every process gave the same value on both sides
        out["p_value"] = 1.0 if diff == 0.0 else 0.0
        out["ci_low"] = out["ci_high"] = out["ratio"]
    else:
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        out["p_value"] = float(2 * stats.t.sf(abs(diff) / se, df))
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se
        out["ci_low"], out["ci_high"] = math.exp(diff - half), math.exp(diff + half)
    if out["p_value"] < alpha and abs(out["ratio"] - 1.0) >= min_change:
        out["verdict"] = FASTER if out["ratio"] < 1.0 else SLOWER
    elif out["p_value"] < alpha:
        out["reason"] = f"a change of {abs(out['ratio'] - 1):.1%} is below --min-change {min_change:g}"
    return out


@dataclass
class Comparison:
    """Rows per pair of configurations, and what only one side has."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    by: str | None = None


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


def _describe(key: dict[str, Any], without: str | None = None) -> str:
    parts = {
        "model": str(key["model"]),
        "backend": label({"key": key}) if without not in ("backend", "options") else "",
        "batch": f"batch {key['batch']}",
        "threads": f"threads {key['threads']}",
    }
    if without in parts:
        parts[without] = ""
    return " ".join(p for p in parts.values() if p)


def _key_id(key: dict[str, Any], without: str | None = None) -> str:
    return json.dumps({k: v for k, v in key.items() if k != without}, sort_keys=True, default=str)


def _axis_value(key: dict[str, Any], axis: str) -> str:
    value = key.get(axis)
    if axis == "options":
        return ",".join(f"{k}={v}" for k, v in sorted((value or {}).items())) or "defaults"
    return str(value)


def processes(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per configuration, the processes of its latest run: the K records of the latest
    ``repeat`` group, or the latest record alone (a run without ``--repeat``); failed
    processes are left out, and a configuration none of whose processes measured is absent."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("kind", "bench") == "bench" and isinstance(r.get("key"), dict):
            by_key.setdefault(_key_id(r["key"]), []).append(r)
    out: dict[str, list[dict[str, Any]]] = {}
    for k, rs in by_key.items():
        group = (rs[-1].get("repeat") or {}).get("group")
        run = [r for r in rs if (r.get("repeat") or {}).get("group") == group] if group else [rs[-1]]
        measured = [r for r in run if r.get("status") == "ok" and (r.get("stats") or {}).get("median_ns")]
        if measured:
            out[k] = measured
    return out


def _per_event(record: dict[str, Any]) -> float:
    return float(record["stats"]["median_ns"]) / int(record["key"]["batch"])


def _pairs(
    a: dict[str, list[dict[str, Any]]], b: dict[str, list[dict[str, Any]]], by: str | None, base: str | None
) -> tuple[list[tuple[list[dict[str, Any]], list[dict[str, Any]]]], list[str], list[str]]:
    """Pairs (A's processes, B's processes), and what only A / only B has."""
    if by is None:
        common = [k for k in a if k in b]
        only_a = [_describe(a[k][0]["key"]) for k in a if k not in b]
        only_b = [_describe(b[k][0]["key"]) for k in b if k not in a]
        return [(a[k], b[k]) for k in common], only_a, only_b
    if by not in AXES:
        raise ConfigurationError(f"--by {by}: compare along one of {', '.join(AXES)}")
    values = [_axis_value(rs[0]["key"], by) for rs in a.values()]
    if base is None:
        numeric = all(v.lstrip("-").isdigit() for v in values)
        base = min(values, key=int) if numeric and values else (values[0] if values else None)
    if base not in values:
        shown = ", ".join(sorted(set(values)))
        raise ConfigurationError(
            f"--by {by}={base}: A has no configuration with {by} {base} (it has {shown})"
        )
    baselines = {_key_id(rs[0]["key"], by): rs for rs in a.values() if _axis_value(rs[0]["key"], by) == base}
    pairs, matched = [], set()
    only_b = []
    for rs in b.values():
        key = rs[0]["key"]
        if _axis_value(key, by) == base:
            continue
        rest = _key_id(key, by)
        if rest in baselines:
            pairs.append((baselines[rest], rs))
            matched.add(rest)
        else:
            only_b.append(_describe(key))
    only_a = [_describe(rs[0]["key"]) for k, rs in baselines.items() if k not in matched]
    return pairs, only_a, only_b


def compare_records(
    a: Sequence[dict[str, Any]],
    b: Sequence[dict[str, Any]],
    force: bool = False,
    alpha: float = 0.05,
    min_change: float = 0.02,
    by: str | None = None,
    base: str | None = None,
) -> Comparison:
    """Pair the configurations (by key, or along the axis ``by`` against its value ``base``)
    and compare each pair's processes; refuse incomparable environments unless forced.
    ``by`` may carry its base as ``AXIS=BASE`` (``threads=1``)."""
    if by is not None and "=" in by:
        by, _, base = by.partition("=")
    pa, pb = processes(a), processes(b)
    pairs, only_a, only_b = _pairs(pa, pb, by, base)
    result = Comparison(only_a=only_a, only_b=only_b, by=by)
    if not pairs:
        what = f"with another {by} than the baseline's" if by else "in common"
        raise ConfigurationError(
            f"the two sides have no configuration {what} (same model, backend, options, batch, "
            "threads, dims): nothing to compare; --by threads (or batch, backend, ...) compares "
            "along one axis"
        )
    differ: dict[str, None] = {}
    for ra, rb in pairs:
        for d in differences(ra[0], rb[0]):
            differ[d] = None
    if differ and not force:
        raise ConfigurationError(
            f"the records come from different machines or library versions ({'; '.join(differ)}): "
            "their timings are not comparable; add --force to compare anyway"
        )
    if differ:
        result.warnings.append(f"compared despite differences: {'; '.join(differ)}")
    for ra, rb in pairs:
        row = compare_processes([_per_event(r) for r in ra], [_per_event(r) for r in rb], alpha, min_change)
        ka, kb = ra[0]["key"], rb[0]["key"]
        if by is None:
            name = _describe(ka)
        else:
            name = f"{_describe(ka, by)}: {by} {_axis_value(kb, by)} vs {_axis_value(ka, by)}"
        row.update({"key_a": ka, "key_b": kb, "configuration": name})
        result.rows.append(row)
    return result


def _read(path: Path) -> list[dict[str, Any]]:
    records = list(jsonl.read(path))
    if not any(r.get("kind", "bench") == "bench" for r in records):
        raise ResultsError(f"no bench records in {path}")
    return records


def compare_files(
    a: Path,
    b: Path | None = None,
    force: bool = False,
    alpha: float = 0.05,
    min_change: float = 0.02,
    by: str | None = None,
    base: str | None = None,
) -> Comparison:
    """compare_records on the latest run per configuration of each file (B: A itself with ``by``)."""
    ra = _read(a)
    rb = ra if b is None else _read(b)
    if b is None and by is None:
        raise ConfigurationError(
            "one file compares only along an axis: add --by threads (or batch, backend, ...)"
        )
    return compare_records(ra, rb, force, alpha, min_change, by, base)


def _ratio_text(row: dict[str, Any]) -> str:
    text = f"{row['ratio']:.3f}"
    if row["ci_low"] is not None:
        text += f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return text


def compare_table(result: Comparison, title: str = "", alpha: float = 0.05) -> Table:
    """The comparison as a rich table, changes coloured."""
    table = Table(title=title or None)
    for col, justify in (
        ("configuration", "left"),
        ("A per event", "right"),
        ("B per event", "right"),
        (f"B/A [{1 - alpha:.0%} CI]", "right"),
        ("p-value", "right"),
        ("processes", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colour = {FASTER: "green", SLOWER: "red"}
    for row in result.rows:
        v = row["verdict"]
        shown = f"[{colour[v]}]{v}[/{colour[v]}]" if v in colour else v
        if row["reason"] == TOO_FEW:
            shown += " (1 process)"
        table.add_row(
            row["configuration"],
            fmt_ns(row["a_ns"]),
            fmt_ns(row["b_ns"]),
            _ratio_text(row),
            "-" if row["p_value"] is None else f"{row['p_value']:.2g}",
            f"{row['n_a']}/{row['n_b']}",
            shown,
        )
    return table


def summary_lines(result: Comparison) -> list[str]:
    """The configurations only one side has (five named), how many got faster or slower, and
    why nothing could be told where the processes were too few."""
    lines = []
    for what, items in (("only in A", result.only_a), ("only in B", result.only_b)):
        if items:
            shown = "; ".join(items[:5]) + (f"; and {len(items) - 5} more" if len(items) > 5 else "")
            lines.append(f"{len(items)} configuration(s) {what}: {shown}")
    counts = {v: sum(r["verdict"] == v for r in result.rows) for v in (FASTER, SLOWER)}
    lines.append(
        f"B is faster in {counts[FASTER]}, slower in {counts[SLOWER]}, "
        f"not significantly different in {len(result.rows) - sum(counts.values())} "
        f"of {len(result.rows)} configurations"
    )
    few = sum(r["reason"] == TOO_FEW for r in result.rows)
    if few:
        lines.append(
            f"{few} of {len(result.rows)} configurations have one process on a side, so no "
            "difference can be told from chance: measure with bench --repeat 3 or more"
        )
    return lines
