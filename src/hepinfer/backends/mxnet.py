"""MXNet 1.9 on CPU: a checkpoint (``PREFIX-symbol.json`` + ``PREFIX-NNNN.params``), as CMSSW
ran DeepAK8 before ONNX Runtime.

MXNet 1.9.1 needs numpy < 1.24, so it lives in a venv of its own (``make mxnet``) and the
worker runs under that interpreter (``interpreter``). The defaults are CMSSW's: the
NaiveEngine (synchronous, no engine threads) and one OpenMP thread; oneDNN (MKL-DNN) is an
option, off by default as in CMSSW's mxnet-predict build. The engine, OpenMP and oneDNN are
read from the environment when MXNet is imported, so ``load`` sets them and then imports it
(its import time is in ``settings``).

``isa`` caps the instruction set of both CPU paths: the MKL-DNN build in MXNet 1.9.1 is
oneDNN v2.4.4, which reads ``DNNL_MAX_CPU_ISA`` only (its verbose output names the ISA it
runs with; ``ONEDNN_MAX_CPU_ISA`` is ignored by that version), and the OpenBLAS bundled in the
wheel (the oneDNN-off path, CMSSW's) takes its kernels from ``OPENBLAS_CORETYPE``. That
OpenBLAS does not know recent Xeons and falls back to its SSE3 ``Prescott`` kernels on them
when left alone ("native"); ``settings`` records the core OpenBLAS chose.

Each ``prepare`` binds its own executor over the shared parameters, with its own input
arrays; ``run`` is one forward pass and the wait for its output (with the NaiveEngine the
pass is synchronous anyway).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer.backends.base import Backend, BackendOptions, ModelArtifact, Outputs, Prepared, check_inputs
from hepinfer.errors import BackendUnavailable, ModelError


@dataclass(frozen=True)
class MXNetOptions(BackendOptions):
    """The engine, oneDNN, and the checkpoint's epoch."""

    engine: Literal["NaiveEngine", "ThreadedEnginePerDevice", "ThreadedEngine"] = "NaiveEngine"
    onednn: bool = False
    epoch: int = 0
    # "native": what each library detects; else the highest ISA oneDNN and OpenBLAS may use.
    isa: Literal["native", "sse41", "avx2", "avx512_core"] = "native"


# The variables each ISA cap sets (oneDNN v2.4's name; OpenBLAS's core of that ISA).
ISA_ENV: dict[str, dict[str, str]] = {
    "native": {},
    "sse41": {"DNNL_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Nehalem"},
    "avx2": {"DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
    "avx512_core": {"DNNL_MAX_CPU_ISA": "AVX512_CORE", "OPENBLAS_CORETYPE": "SkylakeX"},
}


class MXNetBackend(Backend):
    """An MXNet symbol and its parameters, bound for inference (grad_req null)."""

    name: ClassVar[str] = "mxnet"
    formats: ClassVar[frozenset[str]] = frozenset({"mxnet"})
    Options: ClassVar[type[BackendOptions]] = MXNetOptions
    packages: ClassVar[tuple[str, ...]] = ("mxnet",)
    # Imported in load, after the environment that configures it is set.
    runtime_packages: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Usable where mxnet imports, or where its venv exists (the worker runs there)."""
        import importlib.util

        from hepinfer.venvs import missing, side_python

        if importlib.util.find_spec("mxnet") is not None or side_python("mxnet") is not None:
            return None
        return missing("mxnet")

    @classmethod
    def interpreter(cls, model: ModelArtifact) -> str | None:
        """The mxnet venv's Python, unless this interpreter has mxnet itself."""
        import importlib.util

        from hepinfer.venvs import side_python

        if importlib.util.find_spec("mxnet") is not None:
            return None
        found = side_python("mxnet")
        return str(found) if found else None

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Environment first (engine, threads, oneDNN), then MXNet, the checkpoint, the symbol."""
        assert isinstance(options, MXNetOptions)
        if model.ref.kind != "mxnet":
            raise BackendUnavailable(f"mxnet runs MXNet checkpoints; {model.ref.label} is {model.ref.kind}")
        self.options = options
        self.spec = model.spec
        os.environ["MXNET_ENGINE_TYPE"] = options.engine
        os.environ["MXNET_MKLDNN_ENABLED"] = "1" if options.onednn else "0"
        os.environ.update(ISA_ENV[options.isa])
        if options.threads > 0:
            os.environ["OMP_NUM_THREADS"] = str(options.threads)
            os.environ["MXNET_CPU_WORKER_NTHREADS"] = str(options.threads)
        t0 = time.perf_counter()
        try:
            import mxnet as mx
        except ImportError as err:
            raise BackendUnavailable(
                f"mxnet cannot be imported here ({err}); create its venv: make mxnet"
            ) from err
        self._import_s = time.perf_counter() - t0
        self._mx = mx
        prefix = str(Path(model.ref.name))
        try:
            self.symbol, self.args, self.aux = mx.model.load_checkpoint(prefix, options.epoch)
        except Exception as err:
            raise ModelError(
                f"{Path(prefix).name}: MXNet could not load epoch {options.epoch}: {err}"
            ) from err
        wanted = [t.name for t in self.spec.inputs]
        self.labels = [a for a in self.symbol.list_arguments() if a not in self.args and a not in wanted]

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """An executor of its own, bound to these inputs (labels zero, unused at inference)."""
        check_inputs(self.spec, inputs)
        mx = self._mx
        batch = next(iter(inputs.values())).shape[0]
        data = {k: mx.nd.array(np.ascontiguousarray(v), dtype=v.dtype) for k, v in inputs.items()}
        labels = {k: mx.nd.zeros((batch,)) for k in self.labels}
        return self.symbol.bind(
            mx.cpu(), args={**self.args, **data, **labels}, aux_states=self.aux, grad_req="null"
        )

    def run(self, prepared: Prepared) -> Any:
        """One forward pass (inference), and the wait for its outputs."""
        prepared.forward(is_train=False)
        for out in prepared.outputs:
            out.wait_to_read()
        return prepared.outputs

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the spec's names, in the symbol's head order."""
        names = [t.name for t in self.spec.outputs]
        return {n: v.asnumpy().copy() for n, v in zip(names, raw, strict=True)}

    def settings(self) -> dict[str, Any]:
        """MXNet's version, engine, threads, oneDNN and the features of its build."""
        mx = self._mx
        features = [f.name for f in mx.runtime.feature_list() if f.enabled]
        return {
            "mxnet": mx.__version__,
            "numpy": np.__version__,
            "engine": os.environ.get("MXNET_ENGINE_TYPE"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "onednn": self.options.onednn,
            "isa": self.options.isa,
            "isa_env": {k: os.environ.get(k) for k in ("DNNL_MAX_CPU_ISA", "OPENBLAS_CORETYPE")},
            "openblas_core": _openblas_core(mx),
            "build_features": features,
            "import_s": self._import_s,
        }


def _openblas_core(mx: Any) -> str | None:
    """The kernel set the OpenBLAS beside libmxnet chose (openblas_get_corename), if it is there."""
    import ctypes

    lib = Path(mx.__file__).parent / "libopenblas.so.0"
    if not lib.exists():
        return None
    try:
        fn = ctypes.CDLL(str(lib)).openblas_get_corename
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_char_p
    name = fn()
    return name.decode() if name else None
