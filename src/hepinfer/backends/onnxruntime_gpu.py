"""ONNX Runtime on an NVIDIA GPU: the CUDA execution provider, and the TensorRT one (fp32/fp16).

Inputs and outputs are bound to device OrtValues with I/O binding, so the copies are where
we put them and nowhere else. With ``io=host`` (the default) the timed call copies the
inputs into the bound device buffers (``OrtValue.update_inplace``), runs, and copies the
outputs to host memory (``IOBinding.copy_outputs_to_cpu``); with ``io=device`` it only runs.
Each of these steps returns when the device is done (ONNX Runtime synchronises its CUDA
stream at the end of ``run``), so the breakdown after timing uses host timers around each.

A session that silently fell back to the CPU provider is refused, not measured.

The TensorRT provider needs the input shapes for its optimisation profile, so its session
is created in ``prepare`` (the time is recorded as ``one_off.session_create_s``); its
engines are cached under ``$HEPINFER_CACHE/ort-trt/<key>``, the key being the model's hash,
precision, profile, GPU and the ONNX Runtime and TensorRT versions.

UNVERIFIED: written against the documented onnxruntime-gpu API without a GPU to run it on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.backends import _gpu
from hepinfer.backends._ort import output_shapes  # the same framework's shape resolution
from hepinfer.backends.base import Backend, BackendOptions, ModelArtifact, Outputs, Prepared, check_inputs
from hepinfer.errors import BackendUnavailable

_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}
BREAKDOWN_CALLS = 50
BREAKDOWN_MAX_S = 2.0


@dataclass(frozen=True)
class OnnxRuntimeCudaOptions(BackendOptions):
    """Where the data lives around the timed call, CUDA graphs, graph optimisation, which GPU."""

    io: Literal["host", "device"] = "host"
    # ORT's CUDA graph: needs every node on the GPU and inputs at fixed device addresses.
    cuda_graph: bool = False
    optimization: Literal["disable", "basic", "extended", "all"] = "all"
    device_id: int = 0


@dataclass(frozen=True)
class OnnxRuntimeTrtOptions(OnnxRuntimeCudaOptions):
    """The TensorRT provider's precision and optimisation profile (batch axis MIN:OPT:MAX)."""

    precision: Literal["fp32", "fp16"] = "fp32"
    # "" builds for exactly this configuration's batch; "1:64:1024" covers batch 1 to 1024.
    profile: str = ""


@dataclass
class _Bound:
    binding: Any
    inputs: dict[str, tuple[Any, np.ndarray]]  # name -> (device OrtValue, host array)
    values: list[Any] = field(default_factory=list)  # keeps the OrtValues alive


class OnnxRuntimeCudaBackend(Backend):
    """An InferenceSession with the CUDA execution provider, inputs and outputs bound on device."""

    name: ClassVar[str] = "onnxruntime-cuda"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    devices: ClassVar[frozenset[str]] = frozenset({"cuda"})
    Options: ClassVar[type[BackendOptions]] = OnnxRuntimeCudaOptions
    needs_sync: ClassVar[bool] = True
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx")
    extra: ClassVar[str | None] = _gpu.GPU_EXTRA
    provider: ClassVar[str] = "CUDAExecutionProvider"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """No driver or the CPU build of onnxruntime (from metadata), then ORT's provider list."""
        reason = _gpu.all_reasons(
            _gpu.driver_reason(), _gpu.missing_package_reason(cls.packages), _gpu.onnxruntime_build_reason()
        )
        if reason is not None:
            return reason
        import onnxruntime as ort

        if cls.provider not in ort.get_available_providers():
            have = ", ".join(ort.get_available_providers())
            return f"onnxruntime {ort.__version__} lacks {cls.provider} (it has {have})"
        return None

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Session options; the session itself (CUDA provider) is created here."""
        ort = require("onnxruntime", f"the {self.name} backend")
        assert isinstance(options, OnnxRuntimeCudaOptions)
        self._ort = ort
        self.opts = options
        self.one_off: dict[str, Any] = {}
        self.spec = model.spec
        self.path = model.onnx_path()
        # onnxruntime-gpu >= 1.21 can load CUDA/cuDNN from the nvidia-* wheels torch installs.
        if hasattr(ort, "preload_dlls"):
            try:
                ort.preload_dlls()
            except Exception as err:  # system CUDA libraries may still be found without it
                self.one_off["preload_dlls"] = f"failed: {err}"
        from hepinfer.measure.gpu_memory import start_monitor

        self.monitor, self.monitor_reason = start_monitor(options.device_id)
        self.session: Any = None
        self._last_binding: Any = None
        if self.provider == "CUDAExecutionProvider":
            self._create_session(None)

    def _session_options(self) -> Any:
        so = self._ort.SessionOptions()
        so.intra_op_num_threads = self.opts.threads
        so.graph_optimization_level = getattr(
            self._ort.GraphOptimizationLevel, _LEVELS[self.opts.optimization]
        )
        so.log_severity_level = 3
        return so

    def _cuda_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device_id": self.opts.device_id}
        if self.opts.cuda_graph:
            out["enable_cuda_graph"] = "1"
        return out

    def _providers(self, shapes: Mapping[str, tuple[int, ...]] | None) -> list[Any]:
        return [("CUDAExecutionProvider", self._cuda_options()), "CPUExecutionProvider"]

    def _create_session(self, shapes: Mapping[str, tuple[int, ...]] | None) -> None:
        t0 = time.perf_counter()
        self.session = self._ort.InferenceSession(
            str(self.path), sess_options=self._session_options(), providers=self._providers(shapes)
        )
        self.one_off["session_create_s"] = time.perf_counter() - t0
        got = self.session.get_providers()
        if not got or got[0] != self.provider:
            raise BackendUnavailable(
                f"{self.name}: ONNX Runtime did not enable {self.provider} (session providers: {got}); "
                "usually the CUDA, cuDNN or TensorRT libraries it needs cannot be loaded; "
                "rerun with --debug and ORT's log at verbose level to see which"
            )
        self.output_names = [o.name for o in self.session.get_outputs()]
        if self.monitor is not None:
            self.monitor.sample()

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Device OrtValues for inputs and outputs, bound once; no inference runs.

        Output shapes come from the session's declared shapes resolved against the inputs;
        an output they do not fix is bound to the device for ONNX Runtime to allocate per call.
        """
        check_inputs(self.spec, inputs)
        feeds = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
        if self.session is None:
            self._create_session({k: v.shape for k, v in feeds.items()})
        ort, dev = self._ort, self.opts.device_id
        shapes = output_shapes(self.session, {k: v.shape for k, v in feeds.items()})
        binding = self.session.io_binding()
        self._last_binding = binding
        bound = _Bound(binding=binding, inputs={})
        for name, value in feeds.items():
            ov = ort.OrtValue.ortvalue_from_numpy(value, "cuda", dev)
            binding.bind_ortvalue_input(name, ov)
            bound.inputs[name] = (ov, value)
            bound.values.append(ov)
        for name in self.output_names:
            known = shapes.get(name)
            if known is None:
                binding.bind_output(name, "cuda", dev)
                continue
            ov = ort.OrtValue.ortvalue_from_shape_and_type(known[0], known[1], "cuda", dev)
            binding.bind_ortvalue_output(name, ov)
            bound.values.append(ov)
        return bound

    def run(self, prepared: Prepared) -> Any:
        """io=host: copy in, run, copy out; io=device: run on the bound device buffers."""
        b = prepared
        if self.opts.io == "host":
            for ov, host in b.inputs.values():
                ov.update_inplace(host)
            self.session.run_with_iobinding(b.binding)
            return b.binding.copy_outputs_to_cpu()
        self.session.run_with_iobinding(b.binding)
        return None

    def synchronize(self) -> None:
        """ORT's run already waits for its stream; this also waits for bound outputs."""
        if self._last_binding is not None:
            self._last_binding.synchronize_outputs()

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by name (copied off the device when the timed call left them there)."""
        values = raw if raw is not None else prepared.binding.copy_outputs_to_cpu()
        return {n: np.asarray(v) for n, v in zip(self.output_names, values, strict=True)}

    def after_timing(self, prepared: Prepared) -> dict[str, dict[str, Any]]:
        """The breakdown (host timers around synchronous steps), device memory, session time."""
        b = prepared
        rows = []
        deadline = time.perf_counter() + BREAKDOWN_MAX_S
        for _ in range(BREAKDOWN_CALLS):
            t0 = time.perf_counter_ns()
            for ov, host in b.inputs.values():
                ov.update_inplace(host)
            t1 = time.perf_counter_ns()
            self.session.run_with_iobinding(b.binding)
            t2 = time.perf_counter_ns()
            b.binding.copy_outputs_to_cpu()
            t3 = time.perf_counter_ns()
            rows.append(
                {
                    "h2d_ns": t1 - t0,
                    "compute_ns": t2 - t1,
                    "d2h_ns": t3 - t2,
                    "device_ns": None,
                    "enqueue_ns": None,
                    "wall_ns": t3 - t0,
                }
            )
            if time.perf_counter() > deadline:
                break
        breakdown = _gpu.summarize_breakdown(
            rows,
            "host_timers",
            timed_call_includes_copies=self.opts.io == "host",
            note="each step is synchronous, so each time includes its own launch overhead; "
            "ONNX Runtime's Python API gives no CUDA events to split host overhead from device time",
        )
        memory: dict[str, Any] = {}
        if self.monitor is not None:
            memory.update(self.monitor.stop())
        else:
            memory["nvml_unavailable"] = self.monitor_reason
        memory["allocator"] = "onnxruntime's CUDA arena has no peak query in the Python API; NVML only"
        return {"timing": {"breakdown": breakdown}, "memory": {"device": memory}, "one_off": self.one_off}

    def settings(self) -> dict[str, Any]:
        """Providers with their options as the session reports them."""
        so = self.session.get_session_options()
        return {
            "device": f"cuda:{self.opts.device_id}",
            "providers": self.session.get_providers(),
            "provider_options": self.session.get_provider_options(),
            "io": self.opts.io,
            "intra_op_num_threads": so.intra_op_num_threads,
            "graph_optimization_level": str(so.graph_optimization_level),
            "onnxruntime": self._ort.__version__,
        }


class OnnxRuntimeTrtBackend(OnnxRuntimeCudaBackend):
    """The TensorRT execution provider (CUDA, then CPU, for nodes TensorRT does not take)."""

    name: ClassVar[str] = "onnxruntime-trt"
    Options: ClassVar[type[BackendOptions]] = OnnxRuntimeTrtOptions
    provider: ClassVar[str] = "TensorrtExecutionProvider"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """As the CUDA provider, and the TensorRT libraries (the tensorrt wheel) must be here."""
        reason = _gpu.all_reasons(
            _gpu.driver_reason(),
            _gpu.missing_package_reason((*cls.packages, "tensorrt")),
            _gpu.onnxruntime_build_reason(),
        )
        return reason if reason is not None else super().unavailable_reason()

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Load TensorRT's libraries into the process first, so ORT's provider finds libnvinfer."""
        import tensorrt

        self._trt_version = str(tensorrt.__version__)
        super().load(model, options)

    def _providers(self, shapes: Mapping[str, tuple[int, ...]] | None) -> list[Any]:
        from hepinfer.cache import cache_dir, digest, file_digest

        assert shapes is not None
        opts = self.opts
        assert isinstance(opts, OnnxRuntimeTrtOptions)
        lo, opt, hi = _gpu.batch_profile(opts.profile, self._batch_of(shapes))
        profile = {
            which: ",".join(
                f"{name}:{'x'.join(map(str, self._with_batch(name, shape, b)))}"
                for name, shape in shapes.items()
            )
            for which, b in (("min", lo), ("opt", opt), ("max", hi))
        }
        key = digest(
            file_digest(self.path),
            opts.precision,
            profile,
            self._trt_version,
            self._ort.__version__,
            _gpu_name(opts.device_id),
        )
        cache = cache_dir() / "ort-trt" / key
        cache.mkdir(parents=True, exist_ok=True)
        self.one_off["engine_cache"] = str(cache)
        self.one_off["engine_cache_hit"] = any(cache.iterdir())
        trt = {
            "device_id": opts.device_id,
            "trt_fp16_enable": opts.precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
            "trt_profile_min_shapes": profile["min"],
            "trt_profile_opt_shapes": profile["opt"],
            "trt_profile_max_shapes": profile["max"],
        }
        if opts.cuda_graph:
            trt["trt_cuda_graph_enable"] = True
        return [
            ("TensorrtExecutionProvider", trt),
            ("CUDAExecutionProvider", self._cuda_options()),
            "CPUExecutionProvider",
        ]

    def _batch_of(self, shapes: Mapping[str, tuple[int, ...]]) -> int:
        for t in self.spec.inputs:
            axis = t.batch_axis
            if axis is not None:
                return shapes[t.name][axis]
        return 1

    def _with_batch(self, name: str, shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
        axis = next(t.batch_axis for t in self.spec.inputs if t.name == name)
        if axis is None:
            return shape
        return (*shape[:axis], batch, *shape[axis + 1 :])

    def settings(self) -> dict[str, Any]:
        """The CUDA provider's settings, and the TensorRT version and precision."""
        opts = self.opts
        assert isinstance(opts, OnnxRuntimeTrtOptions)
        return {**super().settings(), "tensorrt": self._trt_version, "precision": opts.precision}


def _gpu_name(index: int) -> str:
    """The GPU's name, so that a cached engine is never used on another GPU model."""
    try:
        from hepinfer.measure.gpu_memory import NvmlMemory

        return NvmlMemory(index).name
    except Exception:  # pynvml missing: the name is unknown, the key still differs per version
        return "unknown-gpu"
