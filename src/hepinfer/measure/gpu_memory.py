"""Peak device memory of a configuration: NVML (what the driver sees) and the framework's allocator.

NVML has no per-process high-water mark, so a sampler thread polls it while the backend
loads, warms up and runs, and the backend also samples at the points where memory is
highest (after load, after the first call, after timing). Two NVML figures are kept: this
process's own usage, where NVML can match the process (it cannot inside some containers,
whose PIDs differ from the host's), and the growth of the whole device's usage since the
sampler started (other processes on the same GPU count too, so it is an upper bound).
The framework's allocator (``torch.cuda.max_memory_allocated``) counts only the tensors the
framework placed, not the CUDA context, cuDNN/cuBLAS workspaces or another library's pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

Reader = Callable[[], int | None]


class PeakSampler:
    """Polls ``read()`` on a thread; ``peak`` is the largest value seen (None: never known).

    ``sample()`` takes one reading now, so a caller can sample at the moments that matter
    instead of hoping the thread caught them; ``start`` and ``stop`` both sample too.
    """

    def __init__(self, read: Reader, interval_s: float = 0.01) -> None:
        self.read = read
        self.interval_s = interval_s
        self.peak: int | None = None
        self.first: int | None = None
        self.samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> int | None:
        """One reading, folded into the peak."""
        value = self.read()
        with self._lock:
            self.samples += 1
            if value is not None:
                if self.first is None:
                    self.first = value
                self.peak = value if self.peak is None else max(self.peak, value)
        return value

    def start(self) -> PeakSampler:
        """Sample now, then keep sampling on a daemon thread until ``stop``."""
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="hepinfer-memory-sampler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def stop(self) -> int | None:
        """Stop the thread, take a last reading, return the peak."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        return self.peak


def nvml_reason() -> str | None:
    """None when NVML answers here, else why not (pynvml missing, or no driver)."""
    from hepinfer._optional import missing

    if reason := missing("pynvml", "GPU memory (NVML)"):
        return reason
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        return f"NVML cannot start: {err}"
    return None


class NvmlMemory:
    """Device and per-process memory of one GPU through NVML (pynvml from nvidia-ml-py)."""

    def __init__(self, index: int = 0) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.pid = os.getpid()
        name = pynvml.nvmlDeviceGetName(self.handle)
        self.name = name.decode() if isinstance(name, bytes) else str(name)
        self.total = int(pynvml.nvmlDeviceGetMemoryInfo(self.handle).total)

    def device_used(self) -> int | None:
        """Bytes in use on the whole device (every process)."""
        try:
            return int(self._nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
        except self._nvml.NVMLError:
            return None

    def process_used(self) -> int | None:
        """Bytes this process holds on the device; None where NVML cannot tell (containers)."""
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        except self._nvml.NVMLError:
            return None
        for p in procs:
            if p.pid == self.pid:
                used = p.usedGpuMemory
                return int(used) if used is not None else None
        return None


class DeviceMemoryMonitor:
    """Both NVML samplers of one GPU, started at load and reported after timing."""

    def __init__(self, index: int = 0, interval_s: float = 0.01) -> None:
        self.nvml = NvmlMemory(index)
        self.process = PeakSampler(self.nvml.process_used, interval_s)
        self.device = PeakSampler(self.nvml.device_used, interval_s)

    def start(self) -> DeviceMemoryMonitor:
        """Start polling."""
        self.process.start()
        self.device.start()
        return self

    def sample(self) -> None:
        """One reading of each, now."""
        self.process.sample()
        self.device.sample()

    def stop(self) -> dict[str, Any]:
        """Stop polling; the peaks as a record's ``memory.device`` entry."""
        self.process.stop()
        self.device.stop()
        growth = None
        if self.device.peak is not None and self.device.first is not None:
            growth = self.device.peak - self.device.first
        return {
            "device_name": self.nvml.name,
            "device_total_bytes": self.nvml.total,
            "nvml_process_peak_bytes": self.process.peak,
            "nvml_device_used_at_start_bytes": self.device.first,
            "nvml_device_peak_growth_bytes": growth,
            "nvml_samples": self.device.samples,
        }


def torch_allocator_peak(torch: Any, device: Any) -> dict[str, int]:
    """torch's caching allocator: the peak of live tensors and of memory reserved from CUDA."""
    return {
        "torch_max_allocated_bytes": int(torch.cuda.max_memory_allocated(device)),
        "torch_max_reserved_bytes": int(torch.cuda.max_memory_reserved(device)),
    }


def start_monitor(index: int = 0) -> tuple[DeviceMemoryMonitor | None, str | None]:
    """A started monitor, or None and why NVML is not usable (the record says so)."""
    reason = nvml_reason()
    if reason is not None:
        return None, reason
    try:
        return DeviceMemoryMonitor(index).start(), None
    except Exception as err:  # an NVML failure must not cost the measurement
        return None, f"NVML failed: {err}"
