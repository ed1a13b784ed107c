"""SOFIE on CPU: the model as generated C++, compiled into a library, called through ctypes.

The call passes the numpy buffers' addresses straight to the generated ``doInfer`` (no copy
in or out). SOFIE fixes every shape, so one library is built per set of input shapes.

Where the library is built:

- In the parent (the intended way): ``SofieBackend.prebuild(model, options, shapes)`` (or
  ``convert.sofie.build_library``) generates and compiles it, and puts the build's
  ``to_dict()`` into ``model.conversions["<parser>_to_sofie"]``. A worker whose
  ``ModelArtifact`` carries that entry only opens the library in ``load``: it imports neither
  SOFIE nor ONNX for the backend, needs no compiler, and the record's conversion section keeps
  the parent's generate and compile times.
- Otherwise, in ``prepare`` of this process (cached on disk), as before.

Besides ``run`` (one ctypes call), ``native_timing`` runs the library's own C++ loop, timed
with steady_clock around each doInfer: the call cost without Python and ctypes, as rootbench
measures SOFIE.
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from hepinfer.backends.base import (
    Backend,
    BackendOptions,
    ModelArtifact,
    Outputs,
    Prepared,
    check_inputs,
)
from hepinfer.errors import BackendUnavailable, ConfigurationError, ModelInputError

if TYPE_CHECKING:
    from hepinfer.convert.sofie import SofieBuild, Source


@dataclass(frozen=True)
class SofieOptions(BackendOptions):
    """How the generated code is compiled. ``threads`` sets OpenBLAS's pool."""

    isa: Literal["native", "portable"] = "native"
    opt: Literal["-O3", "-O2"] = "-O3"
    compiler: str = "g++"
    # Which SOFIE parser reads the model: the ONNX file, or (zoo models) the PyTorch module
    # through torch.export, or the Keras twin saved as .keras; "keras" on a foreign ONNX file
    # reads its onnx2keras conversion (made in the parent: ONNX -> Keras -> SOFIE).
    parser: Literal["onnx", "pytorch", "keras"] = "onnx"


def conversion_name(parser: str) -> str:
    """The key of a SOFIE build in ``ModelArtifact.conversions`` ("onnx_to_sofie", ...)."""
    return f"{parser}_to_sofie"


class SofieBackend(Backend):
    """SOFIE's generated C++ for an ONNX file, one compiled library per set of input shapes."""

    name: ClassVar[str] = "sofie"
    formats: ClassVar[frozenset[str]] = frozenset({"onnx"})
    Options: ClassVar[type[BackendOptions]] = SofieOptions
    packages: ClassVar[tuple[str, ...]] = ("sofie", "scipy_openblas32", "onnx")
    # What the measured process imports when it is handed a library built in the parent: the
    # BLAS it calls, not the generator (sofie) nor the ONNX reader the build needed.
    runtime_packages: ClassVar[tuple[str, ...]] = ("scipy_openblas32",)
    extra: ClassVar[str | None] = "sofie"
    # The generated Session owns the intermediate tensors every doInfer writes: two threads on
    # one session would overwrite each other's. Each thread needs its own session.
    shareable: ClassVar[bool] = False
    # native_timing(): the library times its own calls in C++ (steady_clock per call).
    has_native_timing: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """The packages, and a C++ compiler on PATH (the generated code is compiled here)."""
        reason = super().unavailable_reason()
        if reason is None and shutil.which("g++") is None:
            return "no C++ compiler (g++) on PATH; install one (apt-get install g++)"
        return reason

    @classmethod
    def unsupported(cls, onnx_path: Path) -> list[str] | None:
        """The operators SOFIE's parser lacks (its own model check; nothing is generated)."""
        from hepinfer.convert.sofie import unsupported_operators

        return sorted(unsupported_operators(onnx_path))

    @classmethod
    def prebuild(
        cls, model: ModelArtifact, options: BackendOptions, input_shapes: Mapping[str, Sequence[int]]
    ) -> SofieBuild:
        """Parent side: build the library for these input shapes and hand it to ``load``.

        Raises the one-line ConversionError for unsupported operators. The build goes into
        ``model.conversions`` (its one-off costs, and what a worker's ``load`` opens): pass
        that dict to the worker's ModelArtifact.
        """
        from hepinfer.convert import sofie as convert

        assert isinstance(options, SofieOptions)
        shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        build = convert.build_library(_source(model, options), shapes, options)
        model.conversions[conversion_name(options.parser)] = build.to_dict()
        return build

    @staticmethod
    def route(model: ModelArtifact, parser: str) -> str:
        """The formats the model passed through to SOFIE ("onnx -> keras -> sofie", ...)."""
        if parser == "keras" and model.converted("onnx_to_keras") is not None:
            return "onnx -> keras (onnx2keras) -> sofie"
        return f"{parser} -> sofie"

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Open the library the parent built, if the model carries one; else check the model.

        With a build in ``model.conversions``: open its BLAS (set its threads), the library,
        and create the Session, nothing else. Without: check the operators (the one-line error
        comes here) and the compiler, so that ``prepare`` can build.
        """
        from hepinfer.convert.sofie import SofieBuild

        assert isinstance(options, SofieOptions)
        self.options = options
        self.model = model
        self.spec = model.spec
        self.build: SofieBuild | None = None
        self._lib: Any = None
        self._lib_path: str | None = None
        self._session: Any = None
        self._source: Source | None = None
        given = model.conversions.get(conversion_name(options.parser))
        self.prebuilt: SofieBuild | None = SofieBuild.from_dict(given) if given else None
        if self.prebuilt is not None:
            _check_matches(self.prebuilt, options)
            self._open_blas(self.prebuilt.blas_library)
            self._open(self.prebuilt)
            return
        from hepinfer.convert import sofie as convert

        convert.compiler_version(options.compiler)  # fails early when there is no compiler
        self._source = _source(model, options)
        if self._source.onnx_path is not None:
            convert.check_supported(self._source.onnx_path)
        lib_dir, lib_name = convert.blas_library()
        self._open_blas(str(lib_dir / f"lib{lib_name}.so"))

    def _open_blas(self, path: str) -> None:
        self._blas = ctypes.CDLL(path)
        if self.options.threads > 0:
            self._blas.scipy_openblas_set_num_threads(ctypes.c_int(self.options.threads))

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Bind the buffers to the library for these shapes (built here if none was given)."""
        check_inputs(self.spec, inputs)
        shapes = {k: tuple(v.shape) for k, v in inputs.items()}
        build = self.prebuilt
        if build is None or any(shapes[a.name] != a.shape for a in build.inputs):
            build = self._build_here(shapes)
        self._open(build)
        self.build = build
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
        return _Bound(feeds, outs, in_ptrs, out_ptrs, build.library)

    def _build_here(self, shapes: Mapping[str, Sequence[int]]) -> SofieBuild:
        """Generate and compile in this process (imports SOFIE): no build given for these shapes."""
        from hepinfer.convert import sofie as convert

        if self._source is None:  # a build was given, but for other shapes
            self._source = _source(self.model, self.options)
        build = convert.build_library(self._source, shapes, self.options)
        if self.prebuilt is None:  # the parent's build stays the record's conversion
            self.model.conversions[conversion_name(self.options.parser)] = build.to_dict()
        return build

    def _open(self, build: SofieBuild) -> None:
        if self._lib is not None and self._lib_path == build.library:
            return
        self._close()
        lib = ctypes.CDLL(build.library)
        lib.hepinfer_create.restype = ctypes.c_void_p
        lib.hepinfer_create.argtypes = [ctypes.c_char_p]
        lib.hepinfer_destroy.argtypes = [ctypes.c_void_p]
        lib.hepinfer_infer.restype = None
        lib.hepinfer_infer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        lib.hepinfer_time_loop.restype = ctypes.c_int64
        lib.hepinfer_time_loop.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
        ]
        lib.hepinfer_clock_pairs.restype = None
        lib.hepinfer_clock_pairs.argtypes = [ctypes.c_int64, ctypes.c_void_p]
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

    def native_timing(self, prepared: Prepared, n_calls: int, warmup: int = 0) -> list[int]:
        """The C++ loop: ``warmup`` untimed calls, then ``n_calls`` timed one by one (ns each).

        Each sample is two steady_clock reads around one doInfer on the prepared buffers, in
        the library itself (no Python, no ctypes): the figure rootbench reports for SOFIE. The
        outputs of the last call are left in the prepared buffers, as after ``run``.
        """
        if n_calls < 1 or warmup < 0:
            raise ConfigurationError(
                f"sofie native timing: need n_calls >= 1 and warmup >= 0, got {n_calls} and {warmup}"
            )
        if prepared.library != self._lib_path:
            raise ModelInputError("sofie: these inputs were prepared for another library; prepare them again")
        ns = np.zeros(n_calls, dtype=np.int64)
        done = self._lib.hepinfer_time_loop(
            self._session, prepared.in_ptrs, prepared.out_ptrs, n_calls, warmup, ns.ctypes.data
        )
        if done != n_calls:
            raise ModelInputError("sofie: doInfer failed inside the native timing loop (see stderr)")
        return [int(x) for x in ns]

    def native_timer_overhead_ns(self, repeat: int = 2000) -> float:
        """Median of back-to-back steady_clock pairs in the library: the floor under its samples."""
        ns = np.zeros(repeat, dtype=np.int64)
        self._lib.hepinfer_clock_pairs(repeat, ns.ctypes.data)
        return float(np.median(ns))

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Copies of the output buffers, by the ONNX output names."""
        assert self.build is not None
        return {a.name: v.copy() for a, v in zip(self.build.outputs, prepared.outputs, strict=True)}

    def settings(self) -> dict[str, Any]:
        """The build (compiler, flags, generate/compile times, where built) and OpenBLAS's threads."""
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
                route=self.route(self.model, self.options.parser),
                sofie_version=b.sofie_version,
                generate_s=b.generate_s,
                compile_s=b.compile_s,
                cached=b.cached,
                library=Path(b.library).name,
                # "parent": the library was handed to load; "here": this process built it.
                built_in="parent" if b is self.prebuilt else "here",
            )
        return out

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: ctypes may be gone
            self._close()


def _source(model: ModelArtifact, options: SofieOptions) -> Source:
    """What SOFIE parses for these options: the ONNX file, or the zoo model's framework twin."""
    from hepinfer.convert import sofie as convert

    if options.parser == "onnx":
        path = model.onnx_path()
        return convert.Source("onnx", path.name, onnx_path=path)
    wanted = "torch" if options.parser == "pytorch" else "keras"
    if wanted == "keras" and "keras" not in model.formats and model.ref.kind == "onnx":
        return _onnx2keras_source(model)
    if wanted not in model.formats:
        raise BackendUnavailable(
            f"sofie.parser={options.parser} needs a zoo model with a "
            f"{'PyTorch definition' if options.parser == 'pytorch' else 'Keras twin'}; "
            f"{model.ref.label} has none (use sofie.parser=onnx"
            + (", or give its ONNX file: onnx2keras converts it)" if wanted == "keras" else ")")
        )
    return convert.Source(
        options.parser,
        model.ref.name,
        zoo_name=model.ref.name,
        zoo_params=model.ref.params,
        input_names=tuple(t.name for t in model.spec.inputs),
        output_names=tuple(t.name for t in model.spec.outputs),
    )


def _onnx2keras_source(model: ModelArtifact) -> Source:
    """SOFIE's Keras parser on the foreign ONNX file's onnx2keras conversion (made here when the
    parent did not: the conversion is recorded as ``onnx_to_keras``, a one-off cost)."""
    from hepinfer.convert import sofie as convert

    path = model.converted("onnx_to_keras")
    if path is None:
        from hepinfer.convert.onnx_keras import onnx_to_keras

        done = onnx_to_keras(model.onnx_path(), [t.name for t in model.spec.inputs])
        model.conversions["onnx_to_keras"] = done.to_dict()
        path = done.path
    return convert.Source(
        "keras",
        Path(model.ref.name).name,
        keras_path=path,
        input_names=tuple(t.name for t in model.spec.inputs),
        output_names=tuple(t.name for t in model.spec.outputs),
    )


def _check_matches(build: SofieBuild, options: SofieOptions) -> None:
    """Refuse a library built with other settings than the ones this worker is asked for."""
    from hepinfer.convert.sofie import BUILD_VERSION

    asked = {"isa": options.isa, "opt": options.opt, "compiler": options.compiler}
    built = {"isa": build.isa, "opt": build.opt, "compiler": build.compiler}
    if asked != built or build.build_version != BUILD_VERSION:
        diff = ", ".join(f"{k}={built[k]} (asked {asked[k]})" for k in asked if asked[k] != built[k])
        raise ConfigurationError(
            f"sofie: the library handed to load was built with {diff or 'an older hepinfer'}; "
            "build it again with the worker's options (SofieBackend.prebuild)"
        )


@dataclass
class _Bound:
    # The arrays must outlive the pointers passed to the library.
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    in_ptrs: Any
    out_ptrs: Any
    library: str  # the library whose Session these buffers fit
