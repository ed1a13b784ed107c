"""When does the GPU pay? The batch size from which a GPU configuration beats the best CPU one.

Built only from result records. At each batch size of a model, the best CPU configuration is
the one with the lowest per-event median; a GPU configuration "beats" it there when the GPU's
per-event confidence interval of the median lies entirely below the CPU's, "loses" when it lies
entirely above, and "ties" when they overlap (the samples cannot tell them apart). The
crossover is the smallest measured batch from which the GPU beats the best CPU at that batch
and at every larger measured batch; None when there is no such batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]


def is_gpu_record(record: Record) -> bool:
    """A record measured on a GPU: its key's device, or a CUDA device in the backend's settings.

    The plan writes the device each configuration runs on into the key (a GPU-only backend's
    is ``cuda`` whatever was asked), so the record says it without asking the registry.
    """
    if record["key"].get("device", "cpu") != "cpu":
        return True
    settings = (record.get("backend") or {}).get("settings") or {}
    return str(settings.get("device", "")).startswith("cuda")


def config_label(record: Record) -> str:
    """Backend with its non-default options, and the thread count."""
    key = record["key"]
    opts = ",".join(f"{k}={v}" for k, v in sorted(key.get("options", {}).items()))
    return (f"{key['backend']}[{opts}]" if opts else key["backend"]) + f" x{key['threads']}t"


@dataclass
class BatchVerdict:
    """One batch size: the GPU and best CPU per-event medians (ns) and the verdict."""

    batch: int
    gpu_ns: float
    cpu_ns: float
    cpu_label: str
    verdict: str  # "gpu" | "cpu" | "tie"

    @property
    def ratio(self) -> float:
        """Best-CPU per-event median over the GPU's: above 1, the GPU is faster."""
        return self.cpu_ns / self.gpu_ns if self.gpu_ns > 0 else float("inf")


@dataclass
class Crossover:
    """One GPU configuration of one model against the best CPU configuration at each batch."""

    model: str
    gpu_label: str
    batch: int | None
    verdicts: list[BatchVerdict] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the bench output."""
        per_batch = ", ".join(f"b{v.batch}: {v.verdict} {v.ratio:.2g}x" for v in self.verdicts)
        if self.batch is None:
            head = "never beats the best CPU configuration at the measured batch sizes"
        else:
            head = f"beats the best CPU configuration from batch {self.batch}"
        return f"{self.model}: {self.gpu_label} {head} ({per_batch})"


def _per_event(record: Record) -> tuple[float, float, float]:
    s, b = record["stats"], record["key"]["batch"]
    return s["per_event_median_ns"], s["ci_low_ns"] / b, s["ci_high_ns"] / b


def crossovers(
    records: Sequence[Record], is_gpu: Callable[[Record], bool] = is_gpu_record
) -> list[Crossover]:
    """Every GPU configuration's crossover, per model; records with errors are left out."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("stats")]
    out = []
    for model in sorted({r["key"]["model"] for r in ok}):
        mine = [r for r in ok if r["key"]["model"] == model]
        cpu = [r for r in mine if not is_gpu(r)]
        gpu = [r for r in mine if is_gpu(r)]
        best_cpu: dict[int, Record] = {}
        for r in cpu:
            b = r["key"]["batch"]
            if b not in best_cpu or _per_event(r)[0] < _per_event(best_cpu[b])[0]:
                best_cpu[b] = r
        for label in sorted({config_label(r) for r in gpu}):
            by_batch = {r["key"]["batch"]: r for r in gpu if config_label(r) == label}
            verdicts = []
            for b in sorted(set(by_batch) & set(best_cpu)):
                g_med, g_lo, g_hi = _per_event(by_batch[b])
                c_med, c_lo, c_hi = _per_event(best_cpu[b])
                verdict = "gpu" if g_hi < c_lo else "cpu" if g_lo > c_hi else "tie"
                verdicts.append(BatchVerdict(b, g_med, c_med, config_label(best_cpu[b]), verdict))
            out.append(Crossover(model, label, crossover_batch(verdicts), verdicts))
    return out


def crossover_batch(verdicts: Sequence[BatchVerdict]) -> int | None:
    """The smallest batch from which every larger measured batch is a GPU win."""
    found = None
    for v in sorted(verdicts, key=lambda v: v.batch, reverse=True):
        if v.verdict != "gpu":
            break
        found = v.batch
    return found


def crossover_lines(records: Sequence[Record]) -> list[str]:
    """Lines to print under the bench table; none when no GPU configuration was measured."""
    return [c.describe() for c in crossovers(records) if c.verdicts]
