"""Native TensorRT: an engine built from the ONNX file, cached, run with ``execute_async_v3``.

The engine has one optimisation profile on the batch axis (``profile=MIN:OPT:MAX``, or
exactly the configuration's batch by default); every other axis is fixed at the shapes of
this configuration's inputs. Engines are cached under ``$HEPINFER_CACHE/tensorrt/`` by the
model file's hash, precision, profile shapes, workspace limit, GPU and TensorRT version (an
engine runs only on the GPU model and TensorRT version that built it). The engine is built
in ``prepare``, when the input shapes are known; the build (or cache load) time is recorded
as ``one_off.engine_build_s`` / ``engine_load_s``, and as the compile entry ``one_off.compile_s``
(``compile_s()``: the build, or on a cache hit the engine's load, with ``engine_cache_hit``
saying which), and the first call separately as usual.

Device buffers, the stream and the CUDA events come from torch (a CUDA build), which the
TensorRT Python samples otherwise take from cuda-python; it keeps one CUDA runtime in the
process. The timed call: copy inputs host->device (``io=host``), ``execute_async_v3`` on our
stream, copy outputs device->host; ``synchronize()`` waits for the stream.

UNVERIFIED: written against the documented TensorRT 10 Python API without a GPU to run it on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer.backends import _gpu
from hepinfer.backends.base import Backend, BackendOptions, ModelArtifact, Outputs, Prepared, check_inputs
from hepinfer.errors import BackendUnavailable, ConversionError

BREAKDOWN_CALLS = 50
BREAKDOWN_MAX_S = 2.0


@dataclass(frozen=True)
class TensorRTOptions(BackendOptions):
    """Precision, the batch profile MIN:OPT:MAX, workspace limit, I/O placement, which GPU."""

    precision: Literal["fp32", "fp16"] = "fp32"
    profile: str = ""
    workspace_mb: int = 0  # 0: TensorRT's default (the GPU's memory)
    io: Literal["host", "device"] = "host"
    device_id: int = 0


@dataclass
class _Buffers:
    host_in: dict[str, Any]
    dev_in: dict[str, Any]
    host_out: dict[str, Any]
    dev_out: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    # This set's own execution context (its shapes and tensor addresses) and the engine it
    # belongs to: another prepare must not rebind what this set runs on.
    context: Any = None
    engine: Any = None


class TensorRTBackend(Backend):
    """A TensorRT engine from the model's ONNX file, one execution context per prepared set, one stream."""

    name: ClassVar[str] = "tensorrt"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    devices: ClassVar[frozenset[str]] = frozenset({"cuda"})
    Options: ClassVar[type[BackendOptions]] = TensorRTOptions
    needs_sync: ClassVar[bool] = True
    packages: ClassVar[tuple[str, ...]] = ("tensorrt", "torch")
    extra: ClassVar[str | None] = _gpu.GPU_EXTRA

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """No driver, no tensorrt, a CPU-only torch (metadata only); then torch's CUDA check."""
        return _gpu.torch_cuda_reason(cls.packages)

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Import TensorRT, check the GPU; the engine is built in prepare (it needs the shapes)."""
        import tensorrt as trt
        import torch

        from hepinfer.cache import file_digest
        from hepinfer.measure.gpu_memory import start_monitor

        assert isinstance(options, TensorRTOptions)
        if not torch.cuda.is_available():
            raise BackendUnavailable("tensorrt: torch.cuda.is_available() is False in the worker")
        self.trt, self.torch, self.opts, self.spec = trt, torch, options, model.spec
        self.device = torch.device("cuda", options.device_id)
        torch.cuda.set_device(self.device)
        self.path = model.onnx_path()
        self.model_hash = file_digest(self.path)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.stream = torch.cuda.Stream(self.device)
        self.one_off: dict[str, Any] = {}
        self.monitor, self.monitor_reason = start_monitor(options.device_id)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Build or load the engine for these shapes, set them, bind fixed device buffers."""
        check_inputs(self.spec, inputs)
        torch, trt = self.torch, self.trt
        shapes = {k: tuple(v.shape) for k, v in inputs.items()}
        self.engine = self._engine(shapes)
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        in_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        out_names = [n for n in names if n not in in_names]
        b = _Buffers({}, {}, {}, {}, context=self.context, engine=self.engine)
        for name in in_names:
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            host = np.ascontiguousarray(inputs[name], dtype=dtype)
            if host.dtype != inputs[name].dtype:
                b.extra.setdefault("input_casts", {})[name] = f"{inputs[name].dtype}->{dtype}"
            self.context.set_input_shape(name, host.shape)
            b.host_in[name] = torch.from_numpy(host).pin_memory()
            b.dev_in[name] = b.host_in[name].to(self.device)
            self.context.set_tensor_address(name, b.dev_in[name].data_ptr())
        for name in out_names:
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            shape = tuple(self.context.get_tensor_shape(name))
            tdtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            b.dev_out[name] = torch.empty(shape, dtype=tdtype, device=self.device)
            b.host_out[name] = torch.empty(shape, dtype=tdtype, pin_memory=True)
            self.context.set_tensor_address(name, b.dev_out[name].data_ptr())
        torch.cuda.synchronize(self.device)
        if self.monitor is not None:
            self.monitor.sample()
        return b

    def _engine(self, shapes: Mapping[str, tuple[int, ...]]) -> Any:
        from hepinfer.cache import digest, publish

        trt, opts = self.trt, self.opts
        lo, opt, hi = _gpu.batch_profile(opts.profile, self._batch_of(shapes))
        profile = {name: [self._with_batch(name, s, b) for b in (lo, opt, hi)] for name, s in shapes.items()}
        props = self.torch.cuda.get_device_properties(self.device)
        gpu = f"{props.name} sm_{props.major}{props.minor}"
        key = digest(self.model_hash, opts.precision, profile, opts.workspace_mb, gpu, trt.__version__)
        path = engine_path_for(key)
        self.one_off.update({"engine_cache": str(path), "engine_profile": profile, "engine_gpu": gpu})
        for stale in ("engine_load_s", "engine_build_s"):  # an earlier prepare's (other shapes)
            self.one_off.pop(stale, None)
        runtime = trt.Runtime(self.logger)
        if path.exists():
            t0 = time.perf_counter()
            engine = runtime.deserialize_cuda_engine(path.read_bytes())
            self.one_off["engine_load_s"] = time.perf_counter() - t0
            self.one_off["engine_cache_hit"] = True
            if engine is not None:
                return engine
        t0 = time.perf_counter()
        blob = self._build(profile)
        self.one_off["engine_build_s"] = time.perf_counter() - t0
        self.one_off["engine_cache_hit"] = False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(blob))
        publish(tmp, path)
        engine = runtime.deserialize_cuda_engine(bytes(blob))
        if engine is None:
            raise ConversionError(f"tensorrt: the engine built from {self.path} cannot be deserialised")
        return engine

    def _build(self, profile: Mapping[str, list[tuple[int, ...]]]) -> Any:
        trt, opts = self.trt, self.opts
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(self.path)):
            errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
            raise ConversionError(f"tensorrt cannot parse {self.path.name}: {errors or 'no detail'}")
        config = builder.create_builder_config()
        if opts.precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        if opts.workspace_mb > 0:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, opts.workspace_mb << 20)
        prof = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            name = network.get_input(i).name
            lo, opt, hi = profile[name]
            prof.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(prof)
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise ConversionError(
                f"tensorrt could not build an engine for {self.path.name} (see TensorRT's log above)"
            )
        return blob

    def _batch_of(self, shapes: Mapping[str, tuple[int, ...]]) -> int:
        for t in self.spec.inputs:
            if t.batch_axis is not None:
                return shapes[t.name][t.batch_axis]
        return 1

    def _with_batch(self, name: str, shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
        axis = next(t.batch_axis for t in self.spec.inputs if t.name == name)
        if axis is None:
            return tuple(shape)
        return (*shape[:axis], batch, *shape[axis + 1 :])

    def compile_s(self) -> float | None:
        """The engine's build in this process, or its load from the cache on a hit (then
        ``one_off.engine_cache_hit`` is true); None before ``prepare`` made an engine. A cached
        engine that failed to load and was rebuilt counts both."""
        if "engine_cache_hit" not in self.one_off:
            return None
        hit = self.one_off["engine_cache_hit"]
        names = ("engine_load_s",) if hit else ("engine_load_s", "engine_build_s")
        return float(sum(self.one_off.get(n) or 0.0 for n in names))

    def run(self, prepared: Prepared) -> Any:
        """Copies and the engine, queued on our stream (not waited for)."""
        b = prepared
        host = self.opts.io == "host"
        with self.torch.cuda.stream(self.stream):
            if host:
                for name, d in b.dev_in.items():
                    d.copy_(b.host_in[name], non_blocking=True)
            if not b.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("tensorrt: execute_async_v3 returned False")
            if host:
                for name, h in b.host_out.items():
                    h.copy_(b.dev_out[name], non_blocking=True)
        return None

    def synchronize(self) -> None:
        """Wait for the stream."""
        self.stream.synchronize()

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the spec's names, from the host buffers or copied off the device."""
        b = prepared
        out = {}
        for t in self.spec.outputs:
            src = b.host_out[t.name] if self.opts.io == "host" else b.dev_out[t.name].cpu()
            out[t.name] = src.numpy().copy()
        return out

    def after_timing(self, prepared: Prepared) -> dict[str, dict[str, Any]]:
        """The breakdown from CUDA events on our stream, device memory, engine build/load times."""
        torch = self.torch
        b = prepared
        rows = []
        deadline = time.perf_counter() + BREAKDOWN_MAX_S
        with torch.cuda.stream(self.stream):
            for _ in range(BREAKDOWN_CALLS):
                ev = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
                t0 = time.perf_counter_ns()
                ev[0].record(self.stream)
                for name, d in b.dev_in.items():
                    d.copy_(b.host_in[name], non_blocking=True)
                ev[1].record(self.stream)
                b.context.execute_async_v3(self.stream.cuda_stream)
                ev[2].record(self.stream)
                for name, h in b.host_out.items():
                    h.copy_(b.dev_out[name], non_blocking=True)
                ev[3].record(self.stream)
                t1 = time.perf_counter_ns()
                ev[3].synchronize()
                t2 = time.perf_counter_ns()
                rows.append(
                    {
                        "h2d_ns": ev[0].elapsed_time(ev[1]) * 1e6,
                        "compute_ns": ev[1].elapsed_time(ev[2]) * 1e6,
                        "d2h_ns": ev[2].elapsed_time(ev[3]) * 1e6,
                        "device_ns": ev[0].elapsed_time(ev[3]) * 1e6,
                        "enqueue_ns": t1 - t0,
                        "wall_ns": t2 - t0,
                    }
                )
                if time.perf_counter() > deadline:
                    break
        breakdown = _gpu.summarize_breakdown(
            rows, "cuda_events", timed_call_includes_copies=self.opts.io == "host"
        )
        memory: dict[str, Any] = {
            "tensorrt_engine_device_memory_bytes": _engine_memory(self.engine),
            "io_buffer_bytes": sum(int(t.nbytes) for t in (*b.dev_in.values(), *b.dev_out.values())),
        }
        if self.monitor is not None:
            memory.update(self.monitor.stop())
        else:
            memory["nvml_unavailable"] = self.monitor_reason
        if b.extra:
            self.one_off["notes"] = b.extra
        return {"timing": {"breakdown": breakdown}, "memory": {"device": memory}, "one_off": self.one_off}

    def settings(self) -> dict[str, Any]:
        """TensorRT version, GPU, precision, profile, engine file."""
        props = self.torch.cuda.get_device_properties(self.device)
        return {
            "device": f"cuda:{self.device.index}",
            "device_name": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "tensorrt": self.trt.__version__,
            "precision": self.opts.precision,
            "profile": self.one_off.get("engine_profile"),
            "engine": self.one_off.get("engine_cache"),
            "io": self.opts.io,
        }


def _engine_memory(engine: Any) -> int | None:
    """The execution context's scratch memory (the attribute was renamed within TensorRT 10)."""
    for attr in ("device_memory_size_v2", "device_memory_size"):
        value = getattr(engine, attr, None)
        if value is not None:
            return int(value)
    return None


def engine_path_for(key: str) -> Path:
    """Where an engine with this cache key lives (for tools that list or clear the cache)."""
    from hepinfer.cache import cache_dir

    return cache_dir() / "tensorrt" / f"{key}.engine"
