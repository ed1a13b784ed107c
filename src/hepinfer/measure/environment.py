"""The machine and software a measurement ran on, recorded with every record."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from typing import Any

# Instruction-set flags that decide which kernels the frameworks dispatch to.
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE",
    "KMP_AFFINITY",
    "OMP_PROC_BIND",
    "GOMP_CPU_AFFINITY",
)


def cpu_info() -> dict[str, Any]:
    """CPU model, the ISA flags that matter, and core counts."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown", "", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    import psutil

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {
        "model": model,
        "arch": platform.machine(),
        "isa": [f for f in ISA_FLAGS if f in flags],
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(affinity) or os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
    }


# Module -> the distributions that may provide it, where the names differ. Asked directly:
# scanning every installed distribution (metadata.packages_distributions) costs 0.3-0.7 s per
# worker, which every configuration of a sweep would pay.
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "mlperf_loadgen": ("mlcommons-loadgen",),
    "mlcommons-loadgen": ("mlcommons-loadgen",),
    "scipy_openblas32": ("scipy-openblas32",),
    "tensorrt": ("tensorrt", "tensorrt-cu12"),
}


def versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named modules' distributions ('absent' when not installed)."""
    from importlib import metadata  # 65 modules: imported where versions are asked for

    out = {}
    for name in ("hepinfer", "numpy", *packages):
        for dist in _DISTRIBUTIONS.get(name, (name, name.replace("_", "-"))):
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
        else:  # a module whose distribution has yet another name: ask the module
            module = sys.modules.get(name)
            out[name] = str(getattr(module, "__version__", "absent"))
    return out


def blas_info() -> list[dict[str, Any]]:
    """BLAS and OpenMP libraries loaded in this process and their thread counts."""
    try:
        from threadpoolctl import threadpool_info

        keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer")
        return [{k: v for k, v in lib.items() if k in keep} for lib in threadpool_info()]
    except Exception as err:  # threadpoolctl inspects native libraries; never fail a run on it
        return [{"error": f"{type(err).__name__}: {err}"}]


def environment(packages: Iterable[str] = (), known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a reader needs to know what a figure was measured on.

    ``known``: what the parent found on this machine with this interpreter
    (``machine_environment``: host, OS, Python, CPU, versions), so that each measured worker
    does not scan them again (~0.1 s a worker). The thread pools, the thread variables and the
    usable cores are always this process's, and a version the parent did not find is asked here.
    """
    known = known or {}
    names = ("hepinfer", "numpy", *packages)
    found = dict(known.get("versions") or {})
    ask = [n for n in names if found.get(n) in (None, "absent")]
    asked = versions(ask) if ask else {}  # versions() imports importlib.metadata (65 modules)
    if "cpu" in known:
        cpu = dict(known["cpu"])
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
        cpu["usable_cores"] = len(affinity) or os.cpu_count()
    else:
        cpu = cpu_info()
    return {
        "host": known.get("host") or _hostname(),
        "os": known.get("os") or platform.platform(),
        "python": known.get("python") or platform.python_version(),
        "cpu": cpu,
        "versions": {n: asked[n] if n in asked else found[n] for n in names},
        "blas": blas_info(),
        "thread_env": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
    }


def machine_environment(packages: Iterable[str] = ()) -> dict[str, Any]:
    """The parts of ``environment`` that are the same in every process this interpreter starts
    on this machine, for a parent to pass to its workers (``environment(known=...)``)."""
    return {
        "host": _hostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_info(),
        "versions": versions(packages),
    }


def machine_fingerprint(env: dict[str, Any]) -> dict[str, Any]:
    """What must match for two records' timings to be comparable."""
    cpu = env.get("cpu", {})
    return {"host": env.get("host"), "cpu": cpu.get("model"), "cores": cpu.get("usable_cores")}


def _hostname() -> str:
    import socket  # here, not at the top: a worker handed the host by its parent never needs it

    return socket.gethostname()
