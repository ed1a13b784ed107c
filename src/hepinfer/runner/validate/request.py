"""What a validation run is asked for, and the configurations and jobs it runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class, check_name
from hepinfer.zoo import ModelRef

CHECKS = ("agreement", "repeat", "rerun", "threads", "batch", "exporter", "isa", "physics")

ORT_ISA_NOTE = (
    "ONNX Runtime upstream has no switch to cap its instruction set (MLAS picks kernels by "
    "CPUID; CMS patches one in as MLAS_DYNAMIC_CPU_ARCH), so results may differ between CPU "
    "types; shown instead: run-to-run and thread-count determinism"
)


def cores_present() -> int:
    """The CPU cores this process may run on (its affinity), at least 2 so that a thread
    check compares something with 1 thread."""
    import os

    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 2
    return max(2, n)


@dataclass(frozen=True)
class ValidateRequest:
    """What to validate and how hard to look."""

    model: str
    backends: Sequence[str] = ("onnxruntime",)
    reference: str | None = None
    dims: Mapping[str, int] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    # backend -> option -> value (one configuration per backend).
    options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    exporter: str = "dynamo"
    seed: int = 0
    precision: str = "fp32"
    rtol: float | None = None
    atol: float | None = None
    checks: Sequence[str] = CHECKS
    # Thread counts compared with 1 thread.
    # Thread counts compared with 1 thread: the cores this process may use (a thread check at
    # 4 threads on 2 cores measures oversubscription, not the backend).
    threads: Sequence[int] = field(default_factory=lambda: (cores_present(),))
    # An event alone vs inside batches of these sizes (the largest is the realistic sample).
    batch_sizes: Sequence[int] = (16, 256)
    odd_batch: int = 7
    # Events alone: these indices of the realistic sample.
    alone: Sequence[int] = (0, 1, 7, 15)
    padded_events: int = 16
    physics_events: int = 10_000
    physics_chunk: int = 1000
    background_efficiency: float = 0.01
    # Classifier outputs whose argmax flips are counted (None: every class-vector output of a
    # model whose spec says it is a classifier).
    argmax: Sequence[str] | None = None
    timeout_s: float = 900.0
    # hepinfer validate --precision-scan: a runner.validate.precision.PrecisionScan, or None.
    precision_scan: Any = None


@dataclass
class InputSet:
    """One named set of inputs every backend of a validation runs (realistic, padded, ...)."""

    name: str
    inputs: dict[str, np.ndarray]
    chunk: int | None = None  # run in calls of this many events (fixed-batch models, big sets)


@dataclass
class ValidateJob:
    """One validation worker: a backend configuration, the input sets it runs, its result."""

    name: str
    backend: str
    threads: int
    exporter: str
    sets: list[str]
    env: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    def outputs(self, workdir: Path, set_name: str) -> Path:
        return workdir / f"{self.name}.{set_name}.npz"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_caps(backend_name: str) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """(label, env) for each capped run a backend allows below this CPU's level, and a note."""
    if backend_name == "pytorch":
        flags = _cpu_flags()
        caps: list[tuple[str, dict[str, str]]] = [
            ("ATEN_CPU_CAPABILITY=default", {"ATEN_CPU_CAPABILITY": "default"})
        ]
        if "avx512f" in flags and "avx2" in flags:
            caps.append(("ATEN_CPU_CAPABILITY=avx2", {"ATEN_CPU_CAPABILITY": "avx2"}))
        caps.append(("ONEDNN_MAX_CPU_ISA=SSE41", {"ONEDNN_MAX_CPU_ISA": "SSE41"}))
        if "avx512f" in flags and "avx2" in flags:
            caps.append(("ONEDNN_MAX_CPU_ISA=AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}))
        return (
            caps,
            "PyTorch kernels capped with ATEN_CPU_CAPABILITY, oneDNN with ONEDNN_MAX_CPU_ISA",
        )
    if backend_name == "onnxruntime":
        return [], ORT_ISA_NOTE
    return [], f"hepinfer knows no instruction-set cap for {backend_name}"


def _consumes_onnx(backend: str, ref: ModelRef) -> bool:
    cls = backend_class(backend)
    return "onnx" in cls.formats and not ("torch" in cls.formats and ref.kind == "zoo")


Config = tuple[str, dict[str, str]]


def label(backend: str, options: Mapping[str, str]) -> str:
    """Backend with its options, as tables show it: ``onnxruntime[optimization=disable]``."""
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{backend}[{opts}]" if opts else backend


def configs(request: ValidateRequest, reference: str) -> list[Config]:
    """The reference at default settings first, then each backend with its options.

    A backend named like the reference is validated as a separate configuration only when
    it has options (ONNX Runtime without graph optimisations against ONNX Runtime's default).
    """
    out: list[Config] = [(reference, {})]
    for b in request.backends:
        opts = dict(request.options.get(b, {}))
        if b != reference or opts:
            out.append((check_name(b), opts))
    return out
