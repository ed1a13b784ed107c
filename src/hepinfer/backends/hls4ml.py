"""hls4ml on CPU: a model in FPGA fixed-point arithmetic, run through its bit-accurate C simulation.

The parent converts the zoo model's Keras twin with hls4ml (a zoo model without one: the
PyTorch model itself, through hls4ml's PyTorch front end, where it takes the model; an ONNX
file, or ``frontend=onnx``: hls4ml's ONNX front end after qonnx's clean-up) and
compiles the C simulation with g++ (``Hls4mlBackend.prebuild``, recorded in
``model.conversions["keras_to_hls4ml"]``, ``["torch_to_hls4ml"]`` or ``["onnx_to_hls4ml"]``); the
measured worker only opens the library with ctypes: it imports neither hls4ml nor Keras
(``runtime_packages`` is empty; ``process.modules`` shows it). The library computes one event
per call, so ``run`` calls it once per event of the batch, on buffers bound in ``prepare``.

What its timing is: the CPU time of an emulator of the firmware, not the FPGA's latency
(``settings()["timing_kind"]``, shown by the tables). FPGA latency and resources need vendor
synthesis and are not estimated here (``settings()["fpga"]``).

The precision is ``ap_fixed<width,integer>`` (with optional rounding and saturation modes) for
every weight, bias, activation and accumulator, or per layer with ``layer_precision``
("layer=W.I;layer2=W.I"): options without commas, so that ``--option`` can sweep them.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from hepinfer.errors import BackendUnavailable, ConfigurationError, ModelInputError

CONVERSION = "keras_to_hls4ml"
TORCH_CONVERSION = "torch_to_hls4ml"
ONNX_CONVERSION = "onnx_to_hls4ml"
_CONVERSIONS = {"keras": CONVERSION, "pytorch": TORCH_CONVERSION, "onnx": ONNX_CONVERSION}


@dataclass(frozen=True)
class Hls4mlOptions(BackendOptions):
    """hls4ml's settings: fixed-point type, reuse factor, strategy, io type, HLS backend."""

    width: int = 16
    integer: int = 6
    rounding: Literal["AP_TRN", "AP_RND"] = "AP_TRN"
    saturation: Literal["AP_WRAP", "AP_SAT"] = "AP_WRAP"
    # Per-layer types: "layer=W.I;other=W.I" (the Keras twin's layer names).
    layer_precision: str = ""
    reuse_factor: int = 1
    strategy: Literal["latency", "resource"] = "latency"
    io_type: Literal["io_parallel", "io_stream"] = "io_parallel"
    hls_backend: Literal["Vivado", "Vitis"] = "Vivado"
    # Which hls4ml front end reads the model: auto is the Keras twin, else the PyTorch model,
    # for a zoo model, and ONNX for an ONNX file; onnx on a zoo model reads its ONNX export.
    frontend: Literal["auto", "keras", "pytorch", "onnx"] = "auto"

    def precision(self) -> str:
        """The default type, as hls4ml writes it."""
        return fixed_type(self.width, self.integer, self.rounding, self.saturation)


def fixed_type(width: int, integer: int, rounding: str = "AP_TRN", saturation: str = "AP_WRAP") -> str:
    """``ap_fixed<W,I>`` (the quantisation and overflow modes only where not the defaults)."""
    if width < 2 or integer > width or integer < 1 - width:
        raise ConfigurationError(
            f"hls4ml: ap_fixed<{width},{integer}> is not a type; use width >= 2 and integer <= width"
        )
    if rounding == "AP_TRN" and saturation == "AP_WRAP":
        return f"ap_fixed<{width},{integer}>"
    return f"ap_fixed<{width},{integer},{rounding},{saturation}>"


def settings_of(options: Hls4mlOptions) -> Any:
    """The converter's settings for these options (layer types parsed)."""
    from hepinfer.convert.hls4ml import HlsSettings

    layers: list[tuple[str, str]] = []
    for item in filter(None, (s.strip() for s in options.layer_precision.split(";"))):
        name, eq, value = item.partition("=")
        w, dot, i = value.partition(".")
        if not eq or not dot or not w.isdigit() or not i.lstrip("-").isdigit():
            raise ConfigurationError(
                f"hls4ml.layer_precision '{item}': expected LAYER=WIDTH.INTEGER, e.g. z_mean=18.8"
            )
        layers.append((name, fixed_type(int(w), int(i), options.rounding, options.saturation)))
    return HlsSettings(
        precision=options.precision(),
        layer_precision=tuple(layers),
        reuse_factor=options.reuse_factor,
        strategy="Latency" if options.strategy == "latency" else "Resource",
        io_type=options.io_type,
        backend=options.hls_backend,
    )


def frontend_for(model: ModelArtifact, options: Hls4mlOptions) -> str:
    """The hls4ml front end for this model: ``options.frontend``, or (auto) the Keras twin,
    else the PyTorch model, for a zoo model, and the ONNX front end for an ONNX file."""
    kind = model.ref.kind
    zoo = kind == "zoo"  # a user's Keras or TorchScript file is not converted: give its ONNX twin
    have = {"keras": zoo and "keras" in model.formats, "pytorch": zoo and "torch" in model.formats}
    have["onnx"] = zoo or kind == "onnx"
    if options.frontend == "auto":
        found = next((f for f in ("keras", "pytorch", "onnx") if have[f]), None)
    else:
        found = options.frontend if have[options.frontend] else None
    if found is None:
        asked = "" if options.frontend == "auto" else f" with hls4ml.frontend={options.frontend}"
        raise BackendUnavailable(
            f"hls4ml converts a zoo model (its Keras twin, else its PyTorch model) or an ONNX file; "
            f"{model.ref.label} cannot be converted{asked} (a Keras or TorchScript file: give its ONNX twin)"
        )
    return found


class Hls4mlBackend(Backend):
    """hls4ml's fixed-point C simulation of a zoo model's Keras twin, called through ctypes."""

    name: ClassVar[str] = "hls4ml"
    # An ONNX file goes through hls4ml's ONNX front end too, but "onnx" is not declared here:
    # the parent stages a backend that does not read the ONNX file itself by calling its
    # prebuild for every model (runner/stage.py), which is what hls4ml needs; the worker only
    # opens the compiled library.
    formats: ClassVar[frozenset[str]] = frozenset({"keras", "torch"})
    Options: ClassVar[type[BackendOptions]] = Hls4mlOptions
    # Recorded versions: the converter runs in the parent (or its child); the worker holds none.
    packages: ClassVar[tuple[str, ...]] = ()
    runtime_packages: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = "hls4ml"
    # The C simulation keeps layer state in static buffers: one caller at a time.
    shareable: ClassVar[bool] = False
    timing_kind: ClassVar[str] = "C simulation (emulator CPU time)"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """g++ and an interpreter with hls4ml (this one, $HEPINFER_HLS4ML_PYTHON, .venv-hls4ml)."""
        from hepinfer.convert.hls4ml import unavailable_reason

        return unavailable_reason()

    @classmethod
    def prebuild(
        cls, model: ModelArtifact, options: BackendOptions, input_shapes: Mapping[str, Sequence[int]]
    ) -> Any:
        """Parent side: convert and compile (cached), and put the build into ``model.conversions``."""
        from hepinfer.convert.hls4ml import build_library

        assert isinstance(options, Hls4mlOptions)
        frontend = frontend_for(model, options)
        onnx_file = model.onnx_path() if frontend == "onnx" else None
        # The ONNX front end reads the event shapes from the file (its batch axis set to 1).
        shapes = [] if onnx_file else model.spec.shapes(1, model.spec.resolve_dims({})).values()
        build = build_library(
            model.ref.name,
            dict(model.ref.params),
            [t.name for t in model.spec.inputs],
            [t.name for t in model.spec.outputs],
            settings_of(options),
            frontend=frontend,
            input_shapes=[s[1:] for s in shapes],
            onnx_file=onnx_file,
        )
        model.conversions[_CONVERSIONS[frontend]] = build.to_dict()
        return build

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Open the library the parent built (or build it now, in a child, if none was given)."""
        from hepinfer.convert.hls4ml import HlsBuild

        assert isinstance(options, Hls4mlOptions)
        self.options = options
        self.spec = model.spec
        given = next((model.conversions[k] for k in _CONVERSIONS.values() if k in model.conversions), None)
        self.built_in = "parent" if given else "here"
        build = HlsBuild.from_dict(given) if given else self.prebuild(model, options, {})
        if build.settings != settings_of(options):
            raise ConfigurationError(
                "hls4ml: the library handed to load was built with other settings "
                f"({build.settings.precision}, asked {options.precision()}); build it again"
            )
        self.build = build
        self._lib = ctypes.CDLL(build.library)
        fn = getattr(self._lib, build.function)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p] * (len(build.inputs) + len(build.outputs))
        self._fn = fn

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """float32 buffers per input and output, and each event's argument pointers."""
        check_inputs(self.spec, inputs)
        feeds = []
        batch = None
        for t in self.build.inputs:
            x = np.ascontiguousarray(inputs[t.name], dtype=np.float32)
            if x.shape[1:] != t.shape:
                raise ModelInputError(
                    f"hls4ml: input {t.name} has shape {x.shape}, the model [batch, {t.shape}]"
                )
            if batch is not None and x.shape[0] != batch:
                raise ModelInputError("hls4ml: the inputs' batch sizes differ")
            batch = x.shape[0]
            feeds.append(x)
        assert batch is not None
        outs = [np.zeros((batch, *t.shape), dtype=np.float32) for t in self.build.outputs]
        calls = []
        for i in range(batch):
            ptrs = [a.ctypes.data + i * a.strides[0] for a in (*feeds, *outs)]
            calls.append(tuple(ctypes.c_void_p(p) for p in ptrs))
        return _Bound(feeds, outs, calls)

    def run(self, prepared: Prepared) -> Any:
        """The C simulation once per event of the batch."""
        fn = self._fn
        for args in prepared.calls:
            fn(*args)
        return prepared.outputs

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Copies of the output buffers, by the spec's names."""
        return {t.name: v.copy() for t, v in zip(self.build.outputs, prepared.outputs, strict=True)}

    def settings(self) -> dict[str, Any]:
        """The build (types, reuse, strategy, io, versions, one-off times) and what timing means."""
        b = self.build
        return {
            "timing_kind": self.timing_kind,
            "precision": b.settings.precision,
            "layer_precision": dict(b.settings.layer_precision),
            "reuse_factor": b.settings.reuse_factor,
            "strategy": b.settings.strategy,
            "io_type": b.settings.io_type,
            "hls_backend": b.settings.backend,
            "hls4ml_version": b.hls4ml_version,
            "keras_version": b.keras_version,
            "frontend": b.frontend,
            "torch_version": b.torch_version,
            "qonnx_version": b.qonnx_version,
            "compiler_version": b.compiler_version,
            "convert_s": b.convert_s,
            "compile_s": b.compile_s,
            "cached": b.cached,
            "built_in": self.built_in,
            "fpga": b.fpga,
        }


@dataclass
class _Bound:
    # The arrays must outlive the pointers passed to the library.
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    calls: list[tuple[Any, ...]]
