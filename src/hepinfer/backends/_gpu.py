"""What the GPU backends share: whether an NVIDIA GPU is here, what to install, the breakdown.

Nothing here imports a framework: ``hepinfer env`` asks every GPU backend why it cannot run,
and on a machine without a GPU the answer must come from the file system and package
metadata alone (a CUDA-less torch import costs seconds and says nothing more).
"""

from __future__ import annotations

import os
import shutil
import statistics
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from hepinfer._optional import missing
from hepinfer.errors import ConfigurationError

# The hepinfer extra that installs the GPU packages (see docs/gpu.md for onnxruntime-gpu,
# which replaces onnxruntime instead of sitting beside it).
GPU_EXTRA = "gpu"
# torch's CPU wheels carry this local version; a CUDA build carries +cuXXX (or none on PyPI).
_TORCH_CPU_TAG = "+cpu"


def driver_reason() -> str | None:
    """None when an NVIDIA driver is visible here, else why not (no framework imported)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        return None
    return "no NVIDIA GPU driver here (/proc/driver/nvidia is absent and nvidia-smi is not on PATH)"


def missing_package_reason(packages: Iterable[str]) -> str | None:
    """None when every package can be imported, else which is missing and the install command."""
    return next(filter(None, (missing(pkg) for pkg in packages)), None)


def torch_build_reason() -> str | None:
    """Why the installed torch cannot drive a GPU, judged from its version tag alone."""
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None  # missing_package_reason says it
    if version.endswith(_TORCH_CPU_TAG):
        return (
            f"torch {version} is a CPU-only build; install the CUDA build of the same version from "
            "https://download.pytorch.org/whl/ (the cuXXX index matching the driver)"
        )
    return None


def onnxruntime_build_reason() -> str | None:
    """Why the installed onnxruntime has no CUDA/TensorRT providers, from package metadata."""
    try:
        metadata.version("onnxruntime-gpu")
        return None
    except metadata.PackageNotFoundError:
        pass
    try:
        version = metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        version = None
    if version is not None:
        return (
            f"onnxruntime {version} here is the CPU build; the CUDA and TensorRT providers are in "
            f"onnxruntime-gpu, which replaces it: pip uninstall -y onnxruntime && "
            f"pip install onnxruntime-gpu=={version}"
        )
    return "onnxruntime is not installed; install it with: pip install onnxruntime-gpu"


def all_reasons(*reasons: str | None) -> str | None:
    """All the reasons that apply, joined; None when none does."""
    found = [r for r in reasons if r]
    return "; ".join(found) if found else None


# The fields of a per-call breakdown, in the order a reader follows a call.
BREAKDOWN_FIELDS = ("h2d_ns", "compute_ns", "d2h_ns", "device_ns", "enqueue_ns", "wall_ns")


def summarize_breakdown(
    rows: Sequence[Mapping[str, float | None]], method: str, **notes: Any
) -> dict[str, Any]:
    """Medians of per-call phase times, and the host overhead the device phases leave over.

    Each row is one call: ``h2d_ns``, ``compute_ns``, ``d2h_ns`` (device time, from CUDA
    events, or host timers around synchronous steps), ``device_ns`` (first event to last,
    None without events), ``enqueue_ns`` (host time to submit the work) and ``wall_ns``
    (host time of the whole call, synchronised). ``host_overhead_ns`` is the median of
    ``wall - device`` per call: launch latency, Python and framework bookkeeping, the wait
    for the result; it is None where the device time is not known apart from the wall time.
    """
    if not rows:
        raise ValueError("no calls to summarize")
    out: dict[str, Any] = {"method": method, "calls": len(rows)}
    for name in BREAKDOWN_FIELDS:
        values = [float(v) for r in rows if (v := r.get(name)) is not None]
        out[name] = statistics.median(values) if len(values) == len(rows) else None
    overhead = [
        float(w) - float(d)
        for r in rows
        if (w := r.get("wall_ns")) is not None and (d := r.get("device_ns")) is not None
    ]
    out["host_overhead_ns"] = statistics.median(overhead) if len(overhead) == len(rows) else None
    out.update(notes)
    return out


def torch_cuda_reason(packages: tuple[str, ...]) -> str | None:
    """Why a torch-on-CUDA backend cannot run: driver, packages and torch build first (no
    import), then torch's own device check; None when it can."""
    reason = all_reasons(driver_reason(), missing_package_reason(packages), torch_build_reason())
    if reason is not None:
        return reason
    import torch

    if not torch.cuda.is_available():
        return f"torch {torch.__version__} finds no usable CUDA device (torch.cuda.is_available() is False)"
    return None


def batch_profile(text: str, batch: int) -> tuple[int, int, int]:
    """``"MIN:OPT:MAX"`` batch sizes of an optimisation profile; "" is exactly ``batch``.

    The configuration's batch must lie inside the profile, else the engine cannot run it.
    """
    if not text:
        return batch, batch, batch
    parts = text.split(":")
    try:
        lo, opt, hi = (int(p) for p in parts)
    except ValueError:
        raise ConfigurationError(
            f"profile={text}: expected MIN:OPT:MAX batch sizes such as 1:64:1024"
        ) from None
    if not 1 <= lo <= opt <= hi:
        raise ConfigurationError(f"profile={text}: need 1 <= MIN <= OPT <= MAX")
    if not lo <= batch <= hi:
        raise ConfigurationError(f"profile={text} does not cover batch {batch}: widen MIN:MAX")
    return lo, opt, hi
