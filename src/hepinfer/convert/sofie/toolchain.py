"""Compiling SOFIE's generated C++: the compiler, the flags, the BLAS it links against.

The header calls BLAS (``sgemm_``, ``sgemv_``, ``saxpy_``...); it is linked against
scipy-openblas32, whose symbols carry a ``scipy_`` prefix, so each routine the header declares
is renamed with a ``-D`` define.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hepinfer._optional import require
from hepinfer.errors import BackendUnavailable, ConversionError

Isa = Literal["native", "portable"]
# The portable ISA: x86-64-v2 (SSE4.2, POPCNT), what distributions and CMSSW target by default
# (armv8-a on ARM, where -march=native is also what "native" means).
PORTABLE = {"x86_64": "-march=x86-64-v2", "amd64": "-march=x86-64-v2", "aarch64": "-march=armv8-a"}
ISA_FLAGS: dict[str, str] = {
    "native": "-march=native",
    # Elsewhere: the compiler's default target, which is portable by definition.
    "portable": PORTABLE.get(platform.machine().lower(), ""),
}


def compiler_version(compiler: str) -> str:
    """The compiler's first ``--version`` line, or a clear error when it is missing."""
    path = shutil.which(compiler)
    if path is None:
        raise BackendUnavailable(
            f"the sofie backend compiles the generated C++ with '{compiler}', not on PATH; "
            "install a C++ compiler (apt-get install g++) or set sofie.compiler"
        )
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout.strip().splitlines() or [compiler])[0]


def blas_library() -> tuple[Path, str]:
    """The scipy-openblas32 library directory and link name."""
    blas = require("scipy_openblas32", "the sofie backend's BLAS")
    return Path(blas.get_lib_dir()), str(blas.get_library())


def blas_version() -> str:
    """The installed scipy-openblas32's version, recorded with the build."""
    from importlib import metadata

    try:
        return metadata.version("scipy-openblas32")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_flags(isa: Isa, opt: str) -> list[str]:
    """The compile flags, recorded with the build."""
    return [f for f in (opt, ISA_FLAGS[isa], "-std=c++17", "-shared", "-fPIC") if f]


@dataclass(frozen=True)
class Compiled:
    """``libmodel.so`` made: the flags as recorded (with the BLAS renames and link), the BLAS
    library it links, and how long the compiler took."""

    flags: tuple[str, ...]
    blas_library: Path
    compile_s: float


def compile_library(
    compiler: str, flags: Sequence[str], routines: Sequence[str], work: Path, label: str
) -> Compiled:
    """Compile ``work/entry.cxx`` (which includes ``model.hxx``) into ``work/libmodel.so``.

    ``routines`` are the BLAS routines the header declares, each renamed to scipy-openblas32's
    symbol; a failure raises a ``ConversionError`` with the compiler's first error line.
    """
    lib_dir, lib_name = blas_library()
    renames = [f"-D{r}=scipy_{r}" for r in routines]
    cmd = [
        compiler,
        *flags,
        *renames,
        "-o",
        str(work / "libmodel.so"),
        str(work / "entry.cxx"),
        f"-L{lib_dir}",
        f"-l{lib_name}",
        f"-Wl,-rpath,{lib_dir}",
        "-Wl,--no-undefined",
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=work, check=False)
    compile_s = time.perf_counter() - t0
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln]
        first = (errors or [done.stderr.strip()[-300:]])[0].replace(f"{work}/", "")
        raise ConversionError(f"compiling the SOFIE code of {label} failed: {first.strip()}")
    return Compiled(
        flags=(*flags, *renames, f"-l{lib_name}"),
        blas_library=lib_dir / f"lib{lib_name}.so",
        compile_s=compile_s,
    )
