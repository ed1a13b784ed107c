"""SOFIE on CPU: the model as generated C++, compiled into a library, called through ctypes.

The call passes the numpy buffers' addresses straight to the generated ``doInfer`` (no copy
in or out). SOFIE fixes every shape, so the library is built in ``prepare`` for the input
shapes at hand (one per batch size, cached); its generate and compile times are one-off
costs, kept in the model's conversions and in ``settings()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer.backends.base import (
    Backend,
    BackendOptions,
    ModelArtifact,
    Outputs,
    Prepared,
    check_inputs,
)
from hepinfer.errors import BackendUnavailable, ModelInputError


@dataclass(frozen=True)
class SofieOptions(BackendOptions):
    """How the generated code is compiled. ``threads`` sets OpenBLAS's pool."""

    isa: Literal["native", "portable"] = "native"
    opt: Literal["-O3", "-O2"] = "-O3"
    compiler: str = "g++"
    # Which SOFIE parser reads the model: the ONNX file, or (zoo models) the PyTorch module
    # through torch.export, or the Keras twin saved as .keras.
    parser: Literal["onnx", "pytorch", "keras"] = "onnx"


class SofieBackend(Backend):
    """SOFIE's generated C++ for an ONNX file, one compiled library per set of input shapes."""

    name: ClassVar[str] = "sofie"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    Options: ClassVar[type[BackendOptions]] = SofieOptions
    packages: ClassVar[tuple[str, ...]] = ("sofie", "scipy_openblas32", "onnx")
    extra: ClassVar[str | None] = "sofie"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """The packages, and a C++ compiler on PATH (the generated code is compiled here)."""
        reason = super().unavailable_reason()
        if reason is None and shutil.which("g++") is None:
            return "no C++ compiler (g++) on PATH; install one (apt-get install g++)"
        return reason

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Check the operators (the one-line error comes here) and set OpenBLAS's threads."""
        from hepinfer.convert import sofie as convert

        assert isinstance(options, SofieOptions)
        self.options = options
        self.model = model
        self.spec = model.spec
        self._convert = convert
        convert.compiler_version(options.compiler)  # fails early when there is no compiler
        spec = model.spec
        if options.parser == "onnx":
            path = model.onnx_path()
            convert.check_supported(path)
            self.source = convert.Source("onnx", path.name, onnx_path=path)
        else:
            wanted = "torch" if options.parser == "pytorch" else "keras"
            if wanted not in model.formats:
                raise BackendUnavailable(
                    f"sofie.parser={options.parser} needs a zoo model with a "
                    f"{'PyTorch definition' if options.parser == 'pytorch' else 'Keras twin'}; "
                    f"{model.ref.label} has none (use sofie.parser=onnx)"
                )
            self.source = convert.Source(
                options.parser,
                model.ref.name,
                zoo_name=model.ref.name,
                zoo_params=model.ref.params,
                input_names=tuple(t.name for t in spec.inputs),
                output_names=tuple(t.name for t in spec.outputs),
            )
        lib_dir, lib_name = convert.blas_library()
        self._blas = ctypes.CDLL(str(lib_dir / f"lib{lib_name}.so"))
        if options.threads > 0:
            self._blas.scipy_openblas_set_num_threads(ctypes.c_int(options.threads))
        self.build: Any = None
        self._lib: Any = None
        self._lib_path: str | None = None
        self._session: Any = None

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Build (or take from the cache) the library for these shapes; bind the buffers."""
        check_inputs(self.spec, inputs)
        shapes = {k: list(v.shape) for k, v in inputs.items()}
        o = self.options
        build = self._convert.build(self.source, shapes, isa=o.isa, opt=o.opt, compiler=o.compiler)
        self.build = build
        self.model.conversions[f"{o.parser}_to_sofie"] = build.to_dict()
        self._open(build)
        feeds = []
        for arg in build.inputs:
            value = inputs[arg.name]
            if tuple(value.shape) != arg.shape:
                raise ModelInputError(
                    f"sofie: input {arg.name} has shape {value.shape}, the code {arg.shape}"
                )
            feeds.append(np.ascontiguousarray(value, dtype=arg.dtype))
        outs = [np.empty(a.shape, dtype=a.dtype) for a in build.outputs]
        in_ptrs = (ctypes.c_void_p * len(feeds))(*[a.ctypes.data for a in feeds])
        out_ptrs = (ctypes.c_void_p * len(outs))(*[a.ctypes.data for a in outs])
        return _Bound(feeds, outs, in_ptrs, out_ptrs)

    def _open(self, build: Any) -> None:
        if self._lib is not None and self._lib_path == build.library:
            return
        self._close()
        lib = ctypes.CDLL(build.library)
        lib.hepinfer_create.restype = ctypes.c_void_p
        lib.hepinfer_create.argtypes = [ctypes.c_char_p]
        lib.hepinfer_destroy.argtypes = [ctypes.c_void_p]
        lib.hepinfer_infer.restype = None
        lib.hepinfer_infer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        weights = build.weights.encode() if build.weights else None
        session = lib.hepinfer_create(weights)
        if not session:
            raise ModelInputError(
                f"sofie: the generated Session could not read its weights ({build.weights})"
            )
        self._lib, self._lib_path, self._session = lib, build.library, session
        self._infer = lib.hepinfer_infer

    def _close(self) -> None:
        if self._lib is not None and self._session:
            self._lib.hepinfer_destroy(self._session)
        self._lib = self._session = None

    def run(self, prepared: Prepared) -> Any:
        """One call of the generated doInfer on the bound buffers."""
        self._infer(self._session, prepared.in_ptrs, prepared.out_ptrs)
        return prepared.outputs

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Copies of the output buffers, by the ONNX output names."""
        return {a.name: v.copy() for a, v in zip(self.build.outputs, prepared.outputs, strict=True)}

    def settings(self) -> dict[str, Any]:
        """The build (compiler, flags, generate/compile times, cached?) and OpenBLAS's threads."""
        out: dict[str, Any] = {
            "blas": "scipy-openblas32",
            "blas_threads": int(self._blas.scipy_openblas_get_num_threads()),
        }
        if self.build is not None:
            b = self.build
            out.update(
                compiler=b.compiler,
                compiler_version=b.compiler_version,
                flags=list(b.flags),
                isa=self.options.isa,
                parser=self.options.parser,
                sofie_version=b.sofie_version,
                generate_s=b.generate_s,
                compile_s=b.compile_s,
                cached=b.cached,
                library=Path(b.library).name,
            )
        return out

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: ctypes may be gone
            self._close()


@dataclass
class _Bound:
    # The arrays must outlive the pointers passed to the library.
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    in_ptrs: Any
    out_ptrs: Any
