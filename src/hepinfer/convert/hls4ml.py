"""Keras twin (or the PyTorch model, or an ONNX file) -> hls4ml project -> its C simulation
compiled with g++, cached by content.

hls4ml (1.3) turns a Keras model (``frontend="keras"``: the zoo model's Keras twin), a
PyTorch one (``frontend="pytorch"``: the zoo model itself, for models without a twin where
hls4ml's PyTorch front end takes them, e.g. linear_event) or an ONNX file (``frontend="onnx"``:
a file a user brings, or a zoo model's export; hls4ml 1.3 reads only QONNX-cleaned graphs, so
the child runs qonnx's clean-up, channels-last and Gemm -> MatMul transforms first, as hls4ml's
documentation does, and names the first operator its ONNX front end has no parser for) into an
HLS C++ project in which
every weight, activation and accumulator is an ``ap_fixed<W,I>``; its C simulation, compiled
with g++, computes bit for bit what the FPGA firmware computes, without vendor tools. The library exports
``<project>_float(float *in..., float *out...)``: one event per call, converting floats to the
fixed-point types on the way in and back on the way out.

``build_library`` runs in the parent (``Hls4mlBackend.prebuild``) before the measured worker
starts, and does the conversion in a child interpreter that has hls4ml and Keras
(``python -m hepinfer.convert.hls4ml_child``): the parent need not have them, and the measured
worker only dlopens the library (ctypes and numpy; neither hls4ml nor Keras). The child is
this interpreter when it has hls4ml, else ``$HEPINFER_HLS4ML_PYTHON``, else the repository's
``.venv-hls4ml`` (``make hls4ml``). Conversion and compile times are one-off costs.

FPGA latency and resources need the vendor's HLS synthesis (Vivado/Vitis HLS), which is not
here: a build says so (``fpga``) rather than estimating.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hepinfer.cache import cache_dir, digest, file_digest
from hepinfer.errors import BackendUnavailable, ConversionError

# Bump when the build changes, so that cached projects are rebuilt.
BUILD_VERSION = 1
FRONTENDS = ("keras", "pytorch", "onnx")
# hls4ml's ONNX parser passes these through without a parser of their own (onnx_to_hls.py).
NEEDS_SYNTHESIS = "needs vendor synthesis (Vivado/Vitis HLS): not run here"
TIMING_KIND = "C simulation (emulator CPU time)"


@dataclass(frozen=True)
class HlsSettings:
    """What hls4ml is asked for: precision (default and per layer), reuse, strategy, io type."""

    precision: str = "ap_fixed<16,6>"
    layer_precision: tuple[tuple[str, str], ...] = ()
    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    backend: str = "Vivado"


@dataclass(frozen=True)
class HlsTensor:
    """One argument of the library's ``_float`` function: the spec's name, its event shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Floats per event."""
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class HlsBuild:
    """A compiled hls4ml C simulation and how it was made (``to_dict`` travels to the worker)."""

    library: str
    function: str
    project_dir: str
    inputs: tuple[HlsTensor, ...]
    outputs: tuple[HlsTensor, ...]
    settings: HlsSettings
    hls4ml_version: str
    keras_version: str
    compiler_version: str
    convert_s: float
    compile_s: float
    interpreter: str
    cached: bool = False
    fpga: str = NEEDS_SYNTHESIS
    key: str = ""
    build_version: int = BUILD_VERSION
    layers: tuple[str, ...] = field(default_factory=tuple)
    # "keras" (the Keras twin) or "pytorch" (the zoo's PyTorch model); keras_version is ""
    # for the latter and torch_version "" for the former.
    frontend: str = "keras"
    torch_version: str = ""
    # The ONNX front end: the qonnx that cleaned the graph, and the file it read.
    qonnx_version: str = ""
    onnx_file: str = ""

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs and for the worker (``from_dict``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HlsBuild:
        """Inverse of to_dict."""
        fields = dict(data)
        for side in ("inputs", "outputs"):
            fields[side] = tuple(HlsTensor(t["name"], tuple(t["shape"])) for t in data[side])
        s = dict(data["settings"])
        s["layer_precision"] = tuple(tuple(p) for p in s["layer_precision"])
        fields["settings"] = HlsSettings(**s)
        fields["layers"] = tuple(data.get("layers", ()))
        return cls(**fields)


def interpreter() -> str | None:
    """A Python that can import hls4ml: this one, $HEPINFER_HLS4ML_PYTHON, or .venv-hls4ml."""
    given = os.environ.get("HEPINFER_HLS4ML_PYTHON")
    if given:
        return given if Path(given).exists() else None
    if importlib.util.find_spec("hls4ml") is not None:
        return sys.executable
    repo_venv = Path(__file__).resolve().parents[3] / ".venv-hls4ml" / "bin" / "python"
    return str(repo_venv) if repo_venv.exists() else None


def unavailable_reason() -> str | None:
    """None when a conversion can run here, else what is missing and how to get it."""
    if shutil.which("g++") is None:
        return "no C++ compiler (g++) on PATH for hls4ml's C simulation; install one (apt-get install g++)"
    if interpreter() is None:
        return (
            "hls4ml is not installed; install it with: pip install 'hepinfer[hls4ml]' "
            "(or `make hls4ml` for a venv of its own, or set HEPINFER_HLS4ML_PYTHON)"
        )
    return None


def build_library(
    zoo_name: str,
    zoo_params: Mapping[str, Any],
    input_names: Sequence[str],
    output_names: Sequence[str],
    settings: HlsSettings,
    frontend: str = "keras",
    input_shapes: Sequence[Sequence[int]] = (),
    onnx_file: str | Path | None = None,
) -> HlsBuild:
    """Convert the zoo model's Keras twin (``frontend="pytorch"``: the zoo's PyTorch model,
    whose event shapes without the batch are ``input_shapes``; ``frontend="onnx"``: the ONNX
    file ``onnx_file``, named ``zoo_name`` in messages) with hls4ml and compile its C
    simulation (cached).

    Runs the conversion in a child interpreter with hls4ml (see the module docstring); raises
    ConversionError with hls4ml's last line when it fails.
    """
    import inspect

    from hepinfer.zoo import entry, keras_twins

    python = interpreter()
    reason = unavailable_reason()
    if python is None or reason is not None:
        raise BackendUnavailable(f"backend hls4ml is unavailable: {reason}")
    if frontend not in FRONTENDS:
        raise ConversionError(f"hls4ml front end '{frontend}': use one of {', '.join(FRONTENDS)}")
    module = sys.modules[__name__]
    if frontend == "onnx":
        if onnx_file is None:
            raise ConversionError("hls4ml's ONNX front end needs the ONNX file")
        sources = digest(inspect.getsource(module), file_digest(Path(onnx_file)))
    else:
        zoo_module = importlib.import_module(f"hepinfer.zoo.{entry(zoo_name).module}")
        sources = digest(*(inspect.getsource(m) for m in (module, keras_twins, zoo_module)))
    shapes = [[int(d) for d in s] for s in input_shapes]
    parts = (sorted(zoo_params.items()), asdict(settings), python, sources, BUILD_VERSION)
    key = digest(zoo_name, *parts, frontend, shapes)
    out_dir = cache_dir() / "hls4ml" / f"{Path(zoo_name).stem}-{key}"
    meta = out_dir / "build.json"
    if meta.exists():
        build = HlsBuild.from_dict(json.loads(meta.read_text()))
        if Path(build.library).exists():
            return HlsBuild.from_dict({**build.to_dict(), "cached": True})
    out_dir.mkdir(parents=True, exist_ok=True)
    request = {
        "zoo_name": zoo_name,
        "zoo_params": dict(zoo_params),
        "input_names": list(input_names),
        "output_names": list(output_names),
        "settings": asdict(settings),
        "project_dir": str(out_dir / "project"),
        "key": key,
        "frontend": frontend,
        "input_shapes": shapes,
        "onnx_file": str(onnx_file) if onnx_file is not None else "",
    }
    req_path = out_dir / "request.json"
    req_path.write_text(json.dumps(request))
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    done = subprocess.run(
        [python, "-m", "hepinfer.convert.hls4ml_child", str(req_path), str(meta)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0 or not meta.exists():
        lines = [ln for ln in (done.stderr + done.stdout).strip().splitlines() if ln.strip()]
        told = [
            ln.removeprefix(CONVERSION_ERROR_PREFIX) for ln in lines if ln.startswith(CONVERSION_ERROR_PREFIX)
        ]
        if told:  # the child's own one line (an operator the front end has no parser for)
            raise ConversionError(told[-1])
        raise ConversionError(f"hls4ml could not convert {zoo_name}: {lines[-1] if lines else 'no output'}")
    return HlsBuild.from_dict(json.loads(meta.read_text()))


# --- the child: runs with hls4ml and Keras importable ----------------------------------------------

# How the child hands a one-line ConversionError to the parent (on stderr).


# What the child prints before a conversion error, so that the parent can tell it from noise.
CONVERSION_ERROR_PREFIX = "hepinfer-conversion-error: "
