"""The report's plots in the HEP style (mplhep), drawn with matplotlib's Agg backend.

Per model: per-event latency vs batch (log-log, with the median's confidence band), speed-up
vs the reference framework, throughput vs threads, and memory vs batch (with the theoretical
minimum when recorded). Each plot is a (name, title, Figure); they are built from records only.
A plot whose x axis would hold a single value (throughput vs threads where every
configuration ran at one thread count) is not drawn; ``not_drawn`` says which and why.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepinfer.report import data

PLOT_KINDS = ("latency", "speedup", "throughput", "memory")
TITLES = {
    "latency": "Per-event latency vs batch size",
    "speedup": "Speed-up vs the reference framework",
    "throughput": "Throughput vs threads",
    "memory": "Memory vs batch size",
}
# The quantity on each plot's x axis (a key field) and how a reader calls it.
X_AXIS = {"latency": "batch", "speedup": "batch", "throughput": "threads", "memory": "batch"}
AXIS_NAMES = {"batch": "batch size", "threads": "thread count"}
Plot = tuple[str, str, Any]  # (file-safe name, title, matplotlib Figure)


def not_drawn(records: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The plot kinds of one model's records whose x axis has a single value, with why:
    a line through one point per series says nothing the tables do not."""
    out = {}
    for kind, axis in X_AXIS.items():
        values = sorted({r["key"][axis] for r in data.ok(records)})
        if len(values) == 1:
            out[kind] = f"one {AXIS_NAMES[axis]}: {values[0]}"
    return out


def not_drawn_line(records: Sequence[dict[str, Any]]) -> str | None:
    """One sentence naming the plots left out and why, or None when none is."""
    skipped = not_drawn(records)
    if not skipped:
        return None
    parts = [f"{TITLES[kind].lower()} ({why})" for kind, why in skipped.items()]
    return "Not drawn, a single value on the x axis: " + "; ".join(parts) + "."


def style() -> Any:
    """The HEP (mplhep ROOT) style as a context manager; selects matplotlib's Agg backend."""
    from hepinfer._optional import require

    require("matplotlib", "plots").use("Agg", force=False)
    plt, mplhep = require("matplotlib.pyplot", "plots"), require("mplhep", "plots in the HEP style")

    # The ROOT style asks for a 'cursive' family that few machines have; the fallback is fine.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return plt.style.context(mplhep.style.ROOT)


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7.5), layout="constrained")
    return fig, fig.add_subplot()


def _batch_axis(ax: Any, records: Sequence[dict[str, Any]]) -> None:
    """Log x axis labelled with the measured batch sizes as plain integers."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.set_xscale("log")
    batches = sorted({r["key"]["batch"] for r in data.ok(records)})
    ax.xaxis.set_major_locator(FixedLocator(batches))
    ax.xaxis.set_minor_locator(NullLocator())
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    ax.xaxis.set_major_formatter(formatter)
    if len(batches) == 1:
        ax.set_xlim(batches[0] / 1.5, batches[0] * 1.5)


def _finish(ax: Any, model: str, xlabel: str, ylabel: str) -> None:
    import mplhep

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="xx-small", loc="best", ncols=2 if len(ax.lines) > 6 else 1)
    # A long model label (options and dims) would squeeze the axes to nothing: the section
    # heading of the report carries the full name.
    short = model if len(model) <= 60 else model[:57] + "..."
    mplhep.label.exp_text("hepinfer", short, ax=ax, loc=0, fontsize="small")


def _series(records: Sequence[dict[str, Any]], by: str) -> dict[str, list[dict[str, Any]]]:
    """Records per line: configuration and the axis held fixed (threads or batch)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in data.ok(records):
        fixed = f"{r['key'][by]} thr" if by == "threads" else f"batch {r['key'][by]}"
        out.setdefault(f"{data.config_label(r)}, {fixed}", []).append(r)
    return out


def latency(records: Sequence[dict[str, Any]], model: str) -> Any | None:
    """Per-event median latency vs batch, per configuration and thread count, CI band shaded."""
    series = _series(records, "threads")
    if not series:
        return None
    fig, ax = _figure()
    for name, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r["key"]["batch"])
        x = [r["key"]["batch"] for r in rs]
        y = [r["stats"]["per_event_median_ns"] / 1e3 for r in rs]
        lo = [r["stats"]["ci_low_ns"] / r["key"]["batch"] / 1e3 for r in rs]
        hi = [r["stats"]["ci_high_ns"] / r["key"]["batch"] / 1e3 for r in rs]
        (line,) = ax.plot(x, y, "o-", label=name)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, linewidth=0)
    _batch_axis(ax, records)
    ax.set_yscale("log")
    _finish(ax, model, "batch size", "latency per event [µs]")
    return fig


def speedup(records: Sequence[dict[str, Any]], model: str) -> Any | None:
    """Reference median / median at the same batch and threads, per configuration."""
    ups = data.speedup_of(records)
    series = _series(records, "threads")
    fig, ax = _figure()
    drawn = False
    for name, rs in sorted(series.items()):
        pts = sorted((r["key"]["batch"], ups.get(r["record_id"])) for r in rs)
        pts = [(b, u) for b, u in pts if u]
        if pts:
            ax.plot([b for b, _ in pts], [u for _, u in pts], "o-", label=name)
            drawn = True
    if not drawn:
        return None
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    _batch_axis(ax, records)
    ax.set_yscale("log")
    ref = next((r["model"].get("reference_backend") for r in records if r.get("model")), "reference")
    _finish(ax, model, "batch size", f"speed-up vs {ref} (x)")
    return fig


def throughput(records: Sequence[dict[str, Any]], model: str) -> Any | None:
    """Events per second vs backend thread count, per configuration and batch."""
    series = _series(records, "batch")
    if not series:
        return None
    fig, ax = _figure()
    for name, rs in sorted(series.items()):
        rs = sorted(rs, key=lambda r: r["key"]["threads"])
        ax.plot(
            [r["key"]["threads"] for r in rs], [r["stats"]["throughput_eps"] for r in rs], "o-", label=name
        )
    ax.set_yscale("log")
    threads = sorted({r["key"]["threads"] for r in data.ok(records)})
    ax.set_xticks(threads)
    _finish(ax, model, "backend threads", "throughput [events/s]")
    return fig


def memory(records: Sequence[dict[str, Any]], model: str) -> Any | None:
    """Peak RSS vs batch per configuration; the graph-level minimum (weights + peak live
    activations by the ONNX graph's liveness) dashed when recorded."""
    series = _series(records, "threads")
    fig, ax = _figure()
    drawn = False
    for name, rs in sorted(series.items()):
        pts = sorted(((r["key"]["batch"], data.memory_mib(r)) for r in rs), key=lambda p: p[0])
        peak = [(b, m["peak"]) for b, m in pts if "peak" in m]
        if peak:
            (line,) = ax.plot([b for b, _ in peak], [v for _, v in peak], "o-", label=f"{name} peak RSS")
            drawn = True
            low = [(b, m["theoretical_min"]) for b, m in pts if "theoretical_min" in m]
            if low:
                ax.plot(
                    [b for b, _ in low],
                    [v for _, v in low],
                    "--",
                    color=line.get_color(),
                    label=f"{name} graph-level minimum",
                )
    if not drawn:
        return None
    _batch_axis(ax, records)
    ax.set_yscale("log")
    _finish(ax, model, "batch size", "memory [MiB]")
    return fig


def figures(records: Sequence[dict[str, Any]]) -> dict[str, list[Plot]]:
    """Every plot of every model, by model section."""
    makers = {"latency": latency, "speedup": speedup, "throughput": throughput, "memory": memory}
    out: dict[str, list[Plot]] = {}
    with style():
        for model, rs in data.by_model(records).items():
            plots = []
            skipped = not_drawn(rs)
            for kind in PLOT_KINDS:
                if kind in skipped:
                    continue
                fig = makers[kind](rs, model)
                if fig is not None:
                    plots.append((f"{data.safe_id(model)}_{kind}", TITLES[kind], fig))
            out[model] = plots
    return out


def to_base64_png(fig: Any, dpi: int = 90) -> str:
    """The figure as base64 PNG, for a data: URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def save_all(
    records: Sequence[dict[str, Any]], directory: Path, figs: dict[str, list[Plot]] | None = None
) -> list[Path]:
    """Every plot as PNG and PDF in ``directory`` (``figs`` when already drawn); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with style():
        for plots in (figs if figs is not None else figures(records)).values():
            for name, _title, fig in plots:
                for ext in ("png", "pdf"):
                    path = directory / f"{name}.{ext}"
                    fig.savefig(path, dpi=120)
                    written.append(path)
    return written
