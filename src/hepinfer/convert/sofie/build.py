"""The build: a cached SOFIE library for one model at one set of input shapes.

The library is cached under ``$HEPINFER_CACHE/sofie`` by the file's hash, the input shapes,
the compiler (its version) and the flags; generate and compile times are one-off costs.
``build_library`` is meant for the parent process; the ``SofieBuild`` it returns travels to the
measured worker as ``to_dict()``, and the worker only opens the library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from hepinfer.cache import cache_dir, digest
from hepinfer.convert.sofie.codegen import Source, TensorArg, check_supported, generate, sofie_module
from hepinfer.convert.sofie.toolchain import (
    Isa,
    blas_version,
    build_flags,
    compile_library,
    compiler_version,
)

# Bump when the generated wrapper or the build changes, so cached libraries are rebuilt.
# 2: the timing loop (hepinfer_time_loop, hepinfer_clock_pairs); header, source, BLAS recorded.
BUILD_VERSION = 2


class BuildSettings(Protocol):
    """How to compile: what ``build_library`` reads from its options (SofieOptions has these)."""

    @property
    def isa(self) -> Isa: ...
    @property
    def opt(self) -> str: ...
    @property
    def compiler(self) -> str: ...


@dataclass(frozen=True)
class BuildOptions:
    """The default build settings: the host's ISA, -O3, g++."""

    isa: Isa = "native"
    opt: str = "-O3"
    compiler: str = "g++"


@dataclass(frozen=True)
class SofieBuild:
    """A compiled SOFIE library and how it was made.

    ``library`` is the shared object to dlopen; ``header`` and ``source`` are SOFIE's generated
    header and hepinfer's C entry points beside it; ``session`` is the C++ struct the entry
    points create. ``inputs`` and ``outputs`` give doInfer's tensors (names, types, shapes) in
    order. ``generate_s`` and ``compile_s`` are the one-off costs of the build that made the
    library; ``cached`` says this call found it on disk instead.
    """

    library: str
    weights: str | None
    namespace: str
    inputs: tuple[TensorArg, ...]
    outputs: tuple[TensorArg, ...]
    compiler: str
    compiler_version: str
    flags: tuple[str, ...]
    sofie_version: str
    generate_s: float
    compile_s: float
    cached: bool = False
    header: str = ""
    source: str = ""
    session: str = ""
    parser: str = "onnx"
    isa: str = "native"
    opt: str = "-O3"
    blas_library: str = ""
    blas_version: str = ""
    key: str = ""
    build_version: int = BUILD_VERSION

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs and provenance, and for the worker (``from_dict``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SofieBuild:
        """Inverse of to_dict (the cache's meta.json)."""
        fields = dict(data)
        for side in ("inputs", "outputs"):
            fields[side] = tuple(
                TensorArg(a["name"], a["ctype"], a["dtype"], tuple(a["shape"])) for a in data[side]
            )
        fields["flags"] = tuple(data["flags"])
        return cls(**fields)


def build_library(
    onnx_path: Path | Source,
    input_shapes: Mapping[str, Sequence[int]],
    options: BuildSettings | None = None,
) -> SofieBuild:
    """The library for this model at these input shapes: cached, else generated and compiled.

    Call it in the parent, before the measured worker starts: it imports SOFIE, checks the
    operators (a ``ConversionError`` naming the unsupported ones, in one line), generates the
    C++ and compiles it. ``options`` is anything with ``isa``, ``opt`` and ``compiler`` (a
    ``SofieOptions`` will do; default ``BuildOptions()``). The cache key is the model file's
    digest (or the zoo model's), the shapes, the compiler's version, the flags, SOFIE's version
    and ``BUILD_VERSION``.
    """
    source = onnx_path if isinstance(onnx_path, Source) else Source("onnx", onnx_path.name, onnx_path)
    settings = options if options is not None else BuildOptions()
    sofie = sofie_module()
    version = compiler_version(settings.compiler)
    flags = build_flags(settings.isa, settings.opt)
    shape_key = {k: list(v) for k, v in sorted(input_shapes.items())}
    key = digest(source.content_hash(), shape_key, version, flags, sofie.__version__, BUILD_VERSION)
    folder = _cache_folder(source, key)
    if (folder / "meta.json").exists():
        data = json.loads((folder / "meta.json").read_text())
        return SofieBuild.from_dict({**data, "cached": True})

    if source.onnx_path is not None:
        check_supported(source.onnx_path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        made = generate(sofie, source, input_shapes, work)
        compiled = compile_library(settings.compiler, flags, made.routines, work, source.label)
        result = SofieBuild(
            library=str(folder / "libmodel.so"),
            weights=str(folder / "model.dat") if (work / "model.dat").exists() else None,
            namespace=made.namespace,
            inputs=made.inputs,
            outputs=made.outputs,
            compiler=settings.compiler,
            compiler_version=version,
            flags=compiled.flags,
            sofie_version=sofie.__version__,
            generate_s=made.generate_s,
            compile_s=compiled.compile_s,
            header=str(folder / "model.hxx"),
            source=str(folder / "entry.cxx"),
            session=f"{made.namespace}::Session",
            parser=source.parser,
            isa=settings.isa,
            opt=settings.opt,
            blas_library=str(compiled.blas_library),
            blas_version=blas_version(),
            key=key,
        )
        _publish(work, folder, result)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _cache_folder(source: Source, key: str) -> Path:
    """Where the build of this key lives: named by the model and parser, for a reader of the cache."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(source.label).stem)[:40]
    return cache_dir() / "sofie" / f"{stem}-{source.parser}-{key}"


def _publish(work: Path, folder: Path, result: SofieBuild) -> None:
    """Move the finished work folder to its cache place, with meta.json, less the scratch files."""
    for scratch in ("model.onnx", "model.keras"):
        (work / scratch).unlink(missing_ok=True)
    (work / "meta.json").write_text(json.dumps(result.to_dict()))
    try:
        os.replace(work, folder)  # atomic: another process may have published it first
    except OSError:
        if not (folder / "meta.json").exists():
            raise
