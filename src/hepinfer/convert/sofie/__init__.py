"""ONNX -> SOFIE C++ -> a shared library with a small C entry point, cached by content.

SOFIE (the ``sofie`` package, ROOT TMVA's code generator without ROOT) parses an ONNX file
and writes a standalone C++ header whose ``doInfer(session, inputs..., outputs...)`` runs the
model on raw buffers. It fixes every shape in the generated code, so one library is built per
set of input shapes (per batch size). The header calls BLAS (``sgemm_``, ``sgemv_``,
``saxpy_``...); it is linked against scipy-openblas32, whose symbols carry a ``scipy_`` prefix,
so each routine the header declares is renamed with a ``-D`` define.

The library is cached under ``$HEPINFER_CACHE/sofie`` by the file's hash, the input shapes,
the compiler (its version) and the flags; generate and compile times are one-off costs.

``build_library`` is meant for the parent process: it imports SOFIE (and ONNX), generates
and compiles, and returns a ``SofieBuild`` whose ``to_dict()`` travels to the measured
worker, which then only opens the library (this package imports SOFIE only when building).
Besides the inference entry point the library exports a timing loop, so that SOFIE can also
be timed the way rootbench times it: std::chrono::steady_clock around each call, in C++.

The parts: ``codegen`` (what SOFIE parses, the operators it lacks, the C++ it writes),
``toolchain`` (compiler, flags, BLAS, compiling), ``build`` (the cached build and its record).
"""

from hepinfer.convert.sofie.build import (
    BUILD_VERSION,
    BuildOptions,
    BuildSettings,
    SofieBuild,
    build_library,
)
from hepinfer.convert.sofie.codegen import Source, TensorArg, check_supported, unsupported_operators
from hepinfer.convert.sofie.toolchain import (
    ISA_FLAGS,
    PORTABLE,
    Isa,
    blas_library,
    build_flags,
    compiler_version,
)

__all__ = [
    "BUILD_VERSION",
    "ISA_FLAGS",
    "PORTABLE",
    "BuildOptions",
    "BuildSettings",
    "Isa",
    "SofieBuild",
    "Source",
    "TensorArg",
    "blas_library",
    "build_flags",
    "build_library",
    "check_supported",
    "compiler_version",
    "unsupported_operators",
]
