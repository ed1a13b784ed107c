"""PyTorch on CPU: eager under inference_mode, TorchScript trace + freeze, or torch.compile.

Inference mode is entered once by the harness (``inference_scope``), as a production loop
does, not on every timed call; ``run`` outside it gives the same outputs, with autograd's
bookkeeping.

``compile`` runs torch.compile (Inductor, which writes and builds C++ for the CPU) on the
first call in ``prepare``, so the timed calls run the compiled graph; the compile time (that
call included) is the record's ``one_off.compile_s`` (``compile_s()``), and the recorded first
call is the first on the compiled graph. Where Inductor fails (no compiler, an unsupported operator), the
configuration fails with one line saying why, and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.backends._torch import TorchModuleBackend
from hepinfer.backends.base import (
    BackendOptions,
    ModelArtifact,
    Outputs,
    Prepared,
    check_inputs,
)
from hepinfer.errors import ConversionError, first_line


@dataclass(frozen=True)
class PyTorchOptions(BackendOptions):
    """How the module is called, and torch's inter-op pool."""

    mode: Literal["eager", "torchscript", "compile"] = "eager"
    interop_threads: int = 1
    # torch.compile's mode (mode=compile only): Inductor's default, or fewer Python overheads.
    compile_mode: Literal["default", "reduce-overhead", "max-autotune-no-cudagraphs"] = "default"


class PyTorchBackend(TorchModuleBackend):
    """A torch.nn.Module, called inside torch.inference_mode (entered once, by the harness)."""

    name: ClassVar[str] = "pytorch"
    Options: ClassVar[type[BackendOptions]] = PyTorchOptions

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Thread pools first (they can be set once per process), then the module."""
        torch = require("torch", "the pytorch backend")

        assert isinstance(options, PyTorchOptions)
        self.options = options
        self.spec = model.spec
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        # Settable once per process: a second model in the same process (hepinfer memory's
        # sessions per thread) keeps the pool when it already has the wanted size.
        if torch.get_num_interop_threads() != max(1, options.interop_threads):
            torch.set_num_interop_threads(max(1, options.interop_threads))
        self._torch = torch
        self.module = self._module(model).eval()
        self._traced = options.mode == "torchscript"
        self._compile_s: float | None = None

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Tensors sharing the numpy buffers; a TorchScript module is traced on them here."""
        check_inputs(self.spec, inputs)
        tensors = tuple(
            self._torch.from_numpy(np.ascontiguousarray(inputs[t.name])) for t in self.spec.inputs
        )
        if self._traced:
            with self._torch.inference_mode():
                traced = self._torch.jit.trace(self.module, tensors, check_trace=False)
            self.module = self._torch.jit.freeze(traced)
            self._traced = False
        if self.options.mode == "compile" and self._compile_s is None:
            self._compile(tensors)
        return tensors

    def _compile(self, tensors: tuple[Any, ...]) -> None:
        """torch.compile, and one call that triggers the compilation (untimed)."""
        torch = self._torch
        compiled = torch.compile(self.module, mode=self.options.compile_mode, dynamic=False)
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                compiled(*tensors)
        except Exception as err:
            first = first_line(err)
            raise ConversionError(
                f"torch.compile failed on {self.spec.name}: {type(err).__name__}: {first}"
            ) from err
        self._compile_s = time.perf_counter() - t0
        self.module = compiled

    def compile_s(self) -> float | None:
        """torch.compile's build and the call that triggered it (mode=compile); None otherwise."""
        return self._compile_s

    def run(self, prepared: Prepared) -> Any:
        """One forward call (inside ``inference_scope`` when the harness entered it)."""
        return self.module(*prepared)

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the spec's names."""
        values = raw if isinstance(raw, (tuple, list)) else (raw,)
        names = [t.name for t in self.spec.outputs]
        return {n: v.detach().numpy().copy() for n, v in zip(names, values, strict=True)}

    def settings(self) -> dict[str, Any]:
        """torch's pools and the CPU kernels it dispatches to."""
        torch = self._torch
        return {
            "num_threads": torch.get_num_threads(),
            "num_interop_threads": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "mode": self.options.mode,
            **(
                {"compile_mode": self.options.compile_mode, "compile_s": self._compile_s}
                if self.options.mode == "compile"
                else {}
            ),
        }
