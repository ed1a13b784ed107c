"""The ``hepinfer eventloop`` and ``hepinfer loadgen`` tables, built only from their records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

EVENTLOOP_COLUMNS = (
    "backend",
    "strategy",
    "mode",
    "N",
    "events/s",
    "speed-up",
    "efficiency",
    "call p50 µs",
    "call p99 µs",
    "event p99 µs",
    "cores used",
    "peak RSS MB",
    "outputs",
    "notes",
)


def eventloop_table(records: Sequence[dict[str, Any]], title: str = "") -> Table:
    """Events/s, scaling and latencies of each configuration."""
    t = Table(title=escape(title) if title else None)
    for col in EVENTLOOP_COLUMNS:
        left = col in ("backend", "strategy", "mode", "outputs", "notes")
        t.add_column(col, justify="left" if left else "right")
    for r in records:
        k = r["key"]
        mode = k["mode"]
        if k["threads"] == 1:
            mode = "/".join(r["eventloop"].get("equivalent_modes") or [mode])
        if r["status"] != "ok":
            t.add_row(
                escape(k["backend"]),
                k["strategy"],
                mode,
                str(k["threads"]),
                *["-"] * 9,
                f"error: {escape(r['error']['message'])}",
            )
            continue
        s = r["stats"]
        agreement = r.get("agreement") or {}
        outputs = "ref" if k["threads"] == 1 else agreement.get("verdict", "")
        if agreement.get("bitwise_equal"):
            outputs = "bitwise"
        peak = r["memory"].get("peak_rss")
        t.add_row(
            escape(k["backend"]),
            k["strategy"],
            mode,
            str(k["threads"]),
            f"{s['events_per_s']:.0f}",
            "" if s["speedup"] is None else f"{s['speedup']:.2f}",
            "" if s["scaling_efficiency"] is None else f"{s['scaling_efficiency']:.0%}",
            f"{s['call']['median_ns'] / 1e3:.1f}",
            *(
                "n<1000" if x["p99_ns"] is None else f"{x['p99_ns'] / 1e3:.1f}"
                for x in (s["call"], s["event"])
            ),
            f"{s['cpu_utilisation']:.2f}",
            "" if peak is None else f"{peak / 2**20:.0f}",
            outputs,
            escape("; ".join(r.get("warnings", []))),
        )
    return t


def loadgen_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """LoadGen's verdict and headline numbers of an ok loadgen record's ``stats``, as
    (quantity, value) pairs: the rows of the loadgen table."""
    s = stats
    rows: list[tuple[str, str]] = [("result", "VALID" if s["valid"] else "INVALID")]
    for name in ("p90_ns", "p99_ns"):
        if s.get(name) is not None:
            rows.append((f"{name[:3]} latency µs", f"{s[name] / 1e3:.1f}"))
    for name, est in s["early_stopping"]["estimates"].items():
        rows.append((f"early-stopping {name[:-3]} µs", f"{est / 1e3:.1f}"))
    for name in ("qps", "samples_per_s", "scheduled_qps", "completed_qps"):
        if s.get(name) is not None:
            rows.append((name.replace("_", " "), f"{s[name]:.1f}"))
    rows.append(("min duration satisfied", str(s["min_duration_satisfied"])))
    rows.append(("min queries satisfied", str(s["min_queries_satisfied"])))
    rows.append(("early stopping satisfied", str(s["early_stopping"]["satisfied"])))
    if "target_latency_satisfied" in s:
        rows.append(("p99 under target", str(s["target_latency_satisfied"])))
    for text in s["recommendations"]:
        rows.append(("LoadGen recommends", str(text)))
    return rows


def loadgen_table(record: dict[str, Any], title: str = "") -> Table:
    """The loadgen table of one ok record: quantity and value per row."""
    t = Table(title=escape(title) if title else None)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for quantity, value in loadgen_rows(record["stats"]):
        t.add_row(quantity, escape(value))
    return t
