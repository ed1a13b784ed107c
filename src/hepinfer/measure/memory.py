"""Resident memory of a worker, phase by phase, and the deltas that belong to the model.

A worker marks the end of each phase (imports, conversion, model load, input preparation,
inference). At each mark the probe records the current RSS and the peak RSS *during* the phase,
then resets the peak so the next phase starts from its own baseline. On Linux the peak is the
kernel's high-water mark (``VmHWM``), reset by writing ``5`` to ``/proc/self/clear_refs``, so
no sample is missed however short the phase; where that is not possible a background thread
samples the RSS every millisecond (``peak_method: "sampled"``) and may miss brief peaks.

Deltas (bytes) in the summary:

- ``import``: after imports - at start (the framework's own libraries).
- ``model``: after load - after conversion (weights, session, compiled kernels).
- ``inputs``: after prepare - after load.
- ``inference``: peak during inference - after prepare (the working memory of the calls:
  activations, arenas, scratch).
- ``model_and_inference``: peak during inference - after conversion. This is the *measured*
  memory compared with the theoretical minimum (weights + peak of live tensors, inputs and
  outputs included), since both count what the model and one call at this batch need on top
  of the framework.
- ``timing``: peak during the timing loop - after inference: the harness's sample buffer (8
  bytes a sample) and whatever grows over a long run. The inference phase is the first call
  and a few warm calls, before the timing loop allocates anything, so the model's figures
  hold none of the harness.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def rss_bytes() -> int:
    """The current resident set size of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import psutil

        return int(psutil.Process().memory_info().rss)


def hwm_bytes() -> int | None:
    """The process's RSS high-water mark (VmHWM), where the OS reports it."""
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")
    except OSError:
        return False
    return hwm_bytes() is not None


class _Sampler:
    """Fallback peak tracker: the max RSS seen by a thread polling every ``interval_s``."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hepinfer-rss-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_bytes())

    def take(self) -> int:
        """The peak since the last take (the current RSS counted), then start over."""
        now = rss_bytes()
        peak = max(self.peak, now)
        self.peak = now
        return peak

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()
        self._thread.join()


@dataclass
class MemoryProbe:
    """RSS at the end of each phase and the peak during it, in marking order.

    ``MemoryProbe()`` takes the starting point; ``mark(name)`` closes the phase called
    ``name``. ``summary()`` is what goes into the record's ``memory`` field.
    """

    sample_if_needed: bool = True
    # Sample even where VmHWM can be reset (to compare the two methods, and in tests).
    force_sampling: bool = False
    rss: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    method: str = "vmhwm"
    _sampler: _Sampler | None = None

    def __post_init__(self) -> None:
        if self.force_sampling or not reset_hwm():
            self.method = "sampled" if self.sample_if_needed or self.force_sampling else "none"
            if self.method == "sampled":
                self._sampler = _Sampler()
        self.rss["start"] = rss_bytes()

    def _phase_peak(self) -> int | None:
        if self._sampler is not None:
            return self._sampler.take()
        if self.method == "vmhwm":
            peak = hwm_bytes()
            reset_hwm()
            return peak
        return None

    def mark(self, phase: str) -> int:
        """Close ``phase``: record its peak and the RSS now; returns the RSS."""
        peak = self._phase_peak()
        now = rss_bytes()
        if peak is not None:
            self.peak[phase] = max(peak, now)
        self.rss[phase] = now
        return now

    def close(self) -> None:
        """Stop the sampler thread, if any."""
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None

    def delta(self, later: str, earlier: str, peak: bool = False) -> int | None:
        """RSS (or the peak during ``later``) minus the RSS after ``earlier``."""
        top = self.peak.get(later) if peak else self.rss.get(later)
        base = self.rss.get(earlier)
        if top is None or base is None:
            return None
        return top - base

    def summary(self) -> dict[str, Any]:
        """The record's memory fields: RSS per phase, peaks per phase, and the deltas.

        The flat ``rss_*``/``peak_rss`` keys of the first records are kept for readers of
        schema version 1.
        """
        deltas = {
            "import": self.delta("import", "start"),
            "model": self.delta("load", "convert"),
            "inputs": self.delta("prepare", "load"),
            "inference": self.delta("inference", "prepare", peak=True),
            "model_and_inference": self.delta("inference", "convert", peak=True),
            # What the timing loop added on top (its sample buffer, any growth over a long run):
            # the harness's own memory is kept out of the model's figures above.
            "timing": self.delta("timing", "inference", peak=True),
        }
        out: dict[str, Any] = {
            "rss": dict(self.rss),
            "peak": dict(self.peak),
            "peak_method": self.method,
            "deltas": deltas,
            "measured_bytes": deltas["model_and_inference"],
            "rss_start": self.rss.get("start"),
            "rss_after_import": self.rss.get("import"),
            "rss_after_load": self.rss.get("load"),
            "rss_after_run": self.rss.get("inference"),
            "peak_rss": max(self.peak.values(), default=None),
        }
        return out


def fmt_bytes(n: float | None) -> str:
    """Bytes in the binary unit that keeps 3 significant digits readable."""
    if n is None:
        return "-"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{sign}{n / scale:.3g} {unit}"
    return f"{sign}{n:.0f} B"


# Frames that allocate on behalf of whoever called them: attribution looks past them.
_ALLOCATOR_FRAMES = re.compile(
    r"^(<unknown>|operator new|operator delete|malloc|calloc|realloc|posix_memalign|aligned_alloc|"
    r"memalign|valloc|mmap|default_malloc|default_calloc|alloc_mmap|_?Py(Mem|Object)_|_PyObject_|"
    r"PyDataMem_|_int_malloc|__libc_|std::|__gnu_cxx::|c10::alloc_cpu|c10::DefaultCPUAllocator)"
)
# Symbol prefixes of the native libraries that matter here (stripped libraries, such as
# onnxruntime's, show no symbols; their allocations are attributed by the Python caller).
_LIBRARY_OF_SYMBOL = (
    (re.compile(r"^(at::|c10::|torch::|caffe2::|THP|_ZN2at|_ZN3c10)"), "torch"),
    (re.compile(r"^(onnxruntime::|Mlas|OrtApis::)"), "onnxruntime"),
    (re.compile(r"^(dnnl::|dnnl_|mkldnn)"), "onednn"),
    (re.compile(r"^(mkl_|MKL_)"), "mkl"),
    (re.compile(r"^(tensorflow::|tsl::|xla::|TF_)"), "tensorflow"),
    (re.compile(r"^(ov::|InferenceEngine::|openvino)"), "openvino"),
    (re.compile(r"^(Eigen::)"), "eigen"),
    (re.compile(r"(cblas|gemm|blas_|openblas)", re.IGNORECASE), "blas"),
    (re.compile(r"^(PyArray|npy|NpyIter|array_|PyUFunc|ufunc_|DOUBLE_|FLOAT_)"), "numpy"),
    (re.compile(r"^(_?Py|cfunction_|method_vectorcall)"), "python"),
)
_SITE_PACKAGE = re.compile(r"(?:site|dist)-packages/([A-Za-z0-9_]+)")
_SOURCE_PACKAGE = re.compile(r"/src/([A-Za-z0-9_]+)/")


def library_of(native: list[tuple[str, str, int]], python: list[tuple[str, str, int]]) -> str:
    """The native library an allocation belongs to, from its stacks (innermost frame first).

    The first native frame past the allocator whose symbol names a known library decides;
    for stripped libraries (no symbols), the innermost Python frame's package does, marked
    ``(via Python)``.
    """
    for function, _file, _line in native:
        if _ALLOCATOR_FRAMES.match(function):
            continue
        for pattern, lib in _LIBRARY_OF_SYMBOL:
            if pattern.search(function):
                if lib == "python":
                    break  # the interpreter itself: the Python caller says more
                return lib
        else:
            continue
        break
    for _function, file, _line in python:
        m = _SITE_PACKAGE.search(file) or _SOURCE_PACKAGE.search(file)
        if m:
            return f"{m.group(1)} (via Python)"
    return "unattributed"


def memray_profile(
    cls: Any,
    artifact: Any,
    options: Any,
    inputs: Mapping[str, Any],
    out_dir: str | Path,
    name: str,
    calls: int = 3,
) -> dict[str, Any]:
    """Heap profiles (memray, native stacks) of a fresh session's load and of its inference.

    A new session of backend class ``cls`` is loaded under one tracker, then its inputs are
    prepared and ``calls`` calls made (the first one cold) under another. Each profile gives
    the peak heap allocated while tracked, the allocations live at that peak by native
    library, and an HTML flame graph (``memray flamegraph``; nothing interactive is opened).
    It runs after the timed calls, so timings are not disturbed; the framework's process-wide
    one-time set-up (thread pools, kernel caches) was done by the measured session already.
    """
    from hepinfer._optional import require

    memray = require("memray", "--memray")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    captures = {phase: out / f"{name}-{phase}.bin" for phase in ("load", "inference")}
    for capture in captures.values():
        capture.unlink(missing_ok=True)
    with memray.Tracker(str(captures["load"]), native_traces=True):
        backend = cls()
        backend.load(artifact, options)
    sync = backend.synchronize if cls.needs_sync else None
    with memray.Tracker(str(captures["inference"]), native_traces=True):
        prepared = backend.prepare(inputs)
        for _ in range(calls):
            backend.run(prepared)
            if sync is not None:
                sync()
    del prepared, backend
    result = {phase: _heap_profile(memray, capture) for phase, capture in captures.items()}
    result["inference"]["calls"] = calls
    return result


def _heap_profile(memray: Any, capture: Path) -> dict[str, Any]:
    """Peak heap, allocations at the peak by library, and the flame graph of one capture."""
    reader = memray.FileReader(str(capture))
    by_library: dict[str, dict[str, int]] = {}
    for rec in reader.get_high_watermark_allocation_records(merge_threads=True):
        lib = library_of(rec.native_stack_trace(max_stacks=64), rec.stack_trace(max_stacks=64))
        slot = by_library.setdefault(lib, {"bytes": 0, "allocations": 0})
        slot["bytes"] += int(rec.size)
        slot["allocations"] += int(rec.n_allocations)
    meta = reader.metadata
    reader.close()
    html = capture.with_suffix(".html")
    proc = subprocess.run(
        [sys.executable, "-m", "memray", "flamegraph", "--force", "-o", str(html), str(capture)],
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = {
        "peak_heap_bytes": int(meta.peak_memory),
        "total_allocations": int(meta.total_allocations),
        "by_library": dict(sorted(by_library.items(), key=lambda kv: -kv[1]["bytes"])),
        "capture": str(capture),
        "flamegraph": str(html) if proc.returncode == 0 and html.exists() else None,
    }
    if result["flamegraph"] is None:
        lines = proc.stderr.strip().splitlines() or ["memray flamegraph failed"]
        result["flamegraph_error"] = lines[-1]
    return result
