"""hls4ml on CPU: a model in FPGA fixed-point arithmetic, run through its bit-accurate C simulation.

The parent converts the zoo model's Keras twin with hls4ml (a zoo model without one: the
PyTorch model itself, through hls4ml's PyTorch front end, where it takes the model) and
compiles the C simulation with g++ (``Hls4mlBackend.prebuild``, recorded in
``model.conversions["keras_to_hls4ml"]`` or ``["torch_to_hls4ml"]``); the
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


class Hls4mlBackend(Backend):
    """hls4ml's fixed-point C simulation of a zoo model's Keras twin, called through ctypes."""

    name: ClassVar[str] = "hls4ml"
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
        if model.ref.kind != "zoo" or not {"keras", "torch"} & model.formats:
            raise BackendUnavailable(
                f"hls4ml converts a zoo model (its Keras twin, else its PyTorch model); "
                f"{model.ref.label} is not one"
            )
        frontend = "keras" if "keras" in model.formats else "pytorch"
        build = build_library(
            model.ref.name,
            dict(model.ref.params),
            [t.name for t in model.spec.inputs],
            [t.name for t in model.spec.outputs],
            settings_of(options),
            frontend=frontend,
            input_shapes=[s[1:] for s in model.spec.shapes(1, model.spec.resolve_dims({})).values()],
        )
        model.conversions[CONVERSION if frontend == "keras" else TORCH_CONVERSION] = build.to_dict()
        return build

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Open the library the parent built (or build it now, in a child, if none was given)."""
        from hepinfer.convert.hls4ml import HlsBuild

        assert isinstance(options, Hls4mlOptions)
        self.options = options
        self.spec = model.spec
        given = model.conversions.get(CONVERSION) or model.conversions.get(TORCH_CONVERSION)
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
