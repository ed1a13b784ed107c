"""PyTorch on an NVIDIA GPU: eager under inference_mode, optionally replayed as a CUDA graph.

The timed call does what a producer in a HEP framework does per event: copy the inputs from
pinned host memory to the device, run the model, copy the outputs back to pinned host
memory; ``synchronize()`` inside the timed region waits for the copies. With ``io=device``
the inputs stay on the device and the outputs are left there (compute only). After timing,
``after_timing`` measures the same call with CUDA events around each phase (the breakdown)
and reports the peak device memory from NVML and from torch's allocator.

UNVERIFIED: written against the documented torch.cuda API without a GPU to run it on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer.backends import _gpu
from hepinfer.backends._torch import TorchModuleBackend
from hepinfer.backends.base import BackendOptions, ModelArtifact, Outputs, Prepared, check_inputs
from hepinfer.errors import BackendUnavailable, ConfigurationError

# Calls of the breakdown pass after timing (untimed); capped in time as well.
BREAKDOWN_CALLS = 50
BREAKDOWN_MAX_S = 2.0


@dataclass(frozen=True)
class PyTorchCudaOptions(BackendOptions):
    """Where the data lives around the timed call, CUDA graphs, which GPU."""

    io: Literal["host", "device"] = "host"
    cuda_graph: bool = False
    device_id: int = 0


@dataclass
class _CudaPrepared:
    host_in: tuple[Any, ...]
    dev_in: tuple[Any, ...]
    host_out: tuple[Any, ...] = ()
    graph: Any = None
    static_out: tuple[Any, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class PyTorchCudaBackend(TorchModuleBackend):
    """A torch.nn.Module on ``cuda:N``; the host<->device copies are part of the timed call."""

    name: ClassVar[str] = "pytorch-cuda"
    devices: ClassVar[frozenset[str]] = frozenset({"cuda"})
    Options: ClassVar[type[BackendOptions]] = PyTorchCudaOptions
    needs_sync: ClassVar[bool] = True
    packages: ClassVar[tuple[str, ...]] = ("torch",)
    extra: ClassVar[str | None] = _gpu.GPU_EXTRA

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """No driver, or a CPU-only torch: said without importing torch; then torch's own check."""
        return _gpu.torch_cuda_reason(cls.packages)

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """The module on the GPU; memory monitoring starts here so the peak covers loading."""
        import torch

        from hepinfer.measure.gpu_memory import start_monitor

        assert isinstance(options, PyTorchCudaOptions)
        if not torch.cuda.is_available():
            raise BackendUnavailable("pytorch-cuda: torch.cuda.is_available() is False in the worker")
        count = torch.cuda.device_count()
        if options.device_id >= count:
            raise ConfigurationError(
                f"--option pytorch-cuda.device_id={options.device_id}: only {count} GPU(s) here"
            )
        self.copts = options
        self.spec = model.spec
        self._torch = torch
        self.device = torch.device("cuda", options.device_id)
        torch.cuda.set_device(self.device)
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        self.monitor, self.monitor_reason = start_monitor(options.device_id)
        torch.cuda.reset_peak_memory_stats(self.device)
        module = self._module(model)
        self.module = module.eval().to(self.device)
        self._traced = False
        torch.cuda.synchronize(self.device)
        if self.monitor is not None:
            self.monitor.sample()

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Pinned host inputs, device buffers, pinned host outputs; the CUDA graph is captured here."""
        check_inputs(self.spec, inputs)
        torch = self._torch
        opts = self.copts
        # Plain tensors (not inference tensors), so run() also works outside inference_scope.
        host_in = tuple(
            torch.from_numpy(np.ascontiguousarray(inputs[t.name])).pin_memory() for t in self.spec.inputs
        )
        dev_in = tuple(h.to(self.device) for h in host_in)
        host_out = tuple(torch.empty(s, dtype=d, pin_memory=True) for s, d in self._output_shapes(dev_in))
        p = _CudaPrepared(host_in=host_in, dev_in=dev_in, host_out=host_out)
        if opts.cuda_graph:
            p.graph, p.static_out = self._capture(dev_in)
        torch.cuda.synchronize(self.device)
        return p

    def _output_shapes(self, dev_in: tuple[Any, ...]) -> list[tuple[tuple[int, ...], Any]]:
        """Output shapes and dtypes from a call on fake tensors: no kernel runs on the device,
        so the first timed call stays the cold one. Where fake tensors fail (an operator
        without a meta kernel), one eager call learns them, and settings() says so."""
        torch = self._torch
        from torch._subclasses.fake_tensor import FakeTensorMode

        try:
            with torch.inference_mode(), FakeTensorMode(allow_non_fake_inputs=True) as mode:
                outs = _as_tuple(self.module(*[mode.from_tensor(d) for d in dev_in]))
            self.shapes_from = "fake tensors"
        except Exception as err:
            with torch.inference_mode():
                outs = _as_tuple(self.module(*dev_in))
            self.shapes_from = f"one eager call in prepare (fake tensors failed: {type(err).__name__})"
        return [(tuple(o.shape), o.dtype) for o in outs]

    def _capture(self, dev_in: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """Warm up on a side stream (as the CUDA-graph docs require), then capture one forward."""
        torch = self._torch
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):
                self.module(*dev_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = _as_tuple(self.module(*dev_in))
        return graph, static_out

    def run(self, prepared: Prepared) -> Any:
        """Copy in (io=host), forward or graph replay, copy out (io=host); all queued, not waited."""
        p = prepared
        host = self.copts.io == "host"
        # Inference mode is the harness's inference_scope(), entered once, not per call.
        if host:
            for d, h in zip(p.dev_in, p.host_in, strict=True):
                d.copy_(h, non_blocking=True)
        outs = self._compute(p)
        if host:
            for h, o in zip(p.host_out, outs, strict=True):
                h.copy_(o.detach(), non_blocking=True)
        return outs

    def _compute(self, p: _CudaPrepared) -> tuple[Any, ...]:
        if p.graph is not None:
            p.graph.replay()
            return p.static_out
        return _as_tuple(self.module(*p.dev_in))

    def synchronize(self) -> None:
        """Wait for the copies and kernels queued by ``run``."""
        self._torch.cuda.synchronize(self.device)

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """The outputs by the spec's names (from the pinned host buffers, or copied off the device)."""
        names = [t.name for t in self.spec.outputs]
        if self.copts.io == "host":
            values = [h.numpy().copy() for h in prepared.host_out]
        else:
            values = [o.detach().cpu().numpy() for o in raw]
        return dict(zip(names, values, strict=True))

    def after_timing(self, prepared: Prepared) -> dict[str, dict[str, Any]]:
        """The per-call breakdown from CUDA events, and the peak device memory (worker hook)."""
        from hepinfer.measure.gpu_memory import torch_allocator_peak

        breakdown = self._breakdown(prepared)
        memory: dict[str, Any] = torch_allocator_peak(self._torch, self.device)
        if self.monitor is not None:
            self.monitor.sample()
            memory.update(self.monitor.stop())
        else:
            memory["nvml_unavailable"] = self.monitor_reason
        return {"timing": {"breakdown": breakdown}, "memory": {"device": memory}}

    def _breakdown(self, p: _CudaPrepared) -> dict[str, Any]:
        """Each phase between CUDA events, always with both copies (so their cost is shown)."""
        torch = self._torch
        rows = []
        deadline = time.perf_counter() + BREAKDOWN_MAX_S
        with torch.inference_mode():
            for _ in range(BREAKDOWN_CALLS):
                ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
                t0 = time.perf_counter_ns()
                ev[0].record()
                for d, h in zip(p.dev_in, p.host_in, strict=True):
                    d.copy_(h, non_blocking=True)
                ev[1].record()
                outs = self._compute(p)
                ev[2].record()
                for h, o in zip(p.host_out, outs, strict=True):
                    h.copy_(o, non_blocking=True)
                ev[3].record()
                t1 = time.perf_counter_ns()
                ev[3].synchronize()
                t2 = time.perf_counter_ns()
                ms = (ev[0].elapsed_time(ev[1]), ev[1].elapsed_time(ev[2]), ev[2].elapsed_time(ev[3]))
                rows.append(
                    {
                        "h2d_ns": ms[0] * 1e6,
                        "compute_ns": ms[1] * 1e6,
                        "d2h_ns": ms[2] * 1e6,
                        "device_ns": ev[0].elapsed_time(ev[3]) * 1e6,
                        "enqueue_ns": t1 - t0,
                        "wall_ns": t2 - t0,
                    }
                )
                if time.perf_counter() > deadline:
                    break
        return _gpu.summarize_breakdown(
            rows,
            "cuda_events",
            timed_call_includes_copies=self.copts.io == "host",
            note="device phases include any time the GPU waited for the host to launch work",
        )

    def settings(self) -> dict[str, Any]:
        """The GPU, its compute capability, CUDA/cuDNN versions, and how the call was set up."""
        torch = self._torch
        props = torch.cuda.get_device_properties(self.device)
        opts = self.copts
        return {
            "device": f"cuda:{self.device.index}",
            "device_name": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            # TF32 changes fp32 results on Ampere and later; record what was allowed.
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "io": opts.io,
            "cuda_graph": opts.cuda_graph,
            "num_threads": torch.get_num_threads(),
            "pinned_host_buffers": True,
            "output_shapes_from": getattr(self, "shapes_from", None),
        }


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
