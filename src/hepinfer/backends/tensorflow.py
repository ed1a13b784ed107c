"""TensorFlow / Keras 3 on CPU: a zoo model's Keras twin, called three ways users call it.

- ``function`` (default, the fast path): the model wrapped in a ``tf.function`` traced once
  for the input signature (optionally XLA-compiled), called on tf tensors;
- ``call``: ``model(x, training=False)`` eagerly, what notebooks and simple scripts do;
- ``predict_on_batch``: Keras's own batch entry point, on numpy arrays.

Thread pools are set through ``tf.config.threading`` before anything else touches TensorFlow
(they can be set once per process, which the one-process-per-configuration worker allows).

``isa`` caps oneDNN (TensorFlow 2.21 ships oneDNN v3.7, which reads ``ONEDNN_MAX_CPU_ISA`` and
the older ``DNNL_MAX_CPU_ISA`` when it creates its first primitive, so setting it in ``load``
works even though the worker has imported TensorFlow already). Only the ops TensorFlow hands
to oneDNN (MatMul, Conv, fused ones) are capped; its Eigen kernels are compiled in, uncapped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from hepinfer._optional import require
from hepinfer.backends.base import (
    Backend,
    BackendOptions,
    ModelArtifact,
    Outputs,
    Prepared,
    check_inputs,
)
from hepinfer.errors import BackendUnavailable, ConfigurationError


@dataclass(frozen=True)
class TensorFlowOptions(BackendOptions):
    """How the Keras model is called, XLA, and TensorFlow's inter-op pool."""

    mode: Literal["function", "call", "predict_on_batch"] = "function"
    # jit_compile=True on the tf.function (mode "function" only).
    xla: bool = False
    # 0 leaves TensorFlow's default (as threads=0 does for the intra-op pool).
    inter_op_threads: int = 1
    # "native": oneDNN's own choice; else the highest ISA oneDNN may use (ONEDNN_MAX_CPU_ISA).
    isa: Literal["native", "sse41", "avx2", "avx512_core"] = "native"


ONEDNN_ISA = {"sse41": "SSE41", "avx2": "AVX2", "avx512_core": "AVX512_CORE"}


class TensorFlowBackend(Backend):
    """A Keras 3 model on TensorFlow's CPU kernels."""

    name: ClassVar[str] = "tensorflow"
    # "keras": a zoo model's twin; "tf": a user's Keras file, SavedModel or frozen GraphDef;
    # "onnx": a foreign ONNX file, converted to Keras by onnx2keras in the parent (prebuild).
    formats: ClassVar[frozenset[str]] = frozenset({"keras", "tf", "onnx"})
    Options: ClassVar[type[BackendOptions]] = TensorFlowOptions
    packages: ClassVar[tuple[str, ...]] = ("tensorflow", "keras")
    extra: ClassVar[str | None] = "tensorflow"

    @classmethod
    def prebuild(
        cls, model: ModelArtifact, options: BackendOptions, input_shapes: Mapping[str, Sequence[int]]
    ) -> Any:
        """Parent side, for an ONNX file: onnx2keras to a saved .keras file the worker loads."""
        from hepinfer.convert.onnx_keras import onnx_to_keras

        done = onnx_to_keras(model.onnx_path(), [t.name for t in model.spec.inputs])
        model.conversions["onnx_to_keras"] = done.to_dict()
        return done

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Thread pools first, then the model: the zoo's Keras twin (weights from the PyTorch
        definition), the user's TensorFlow file, or the parent's onnx2keras conversion."""
        assert isinstance(options, TensorFlowOptions)
        converted = model.converted("onnx_to_keras")
        if not ({"keras", "tf"} & model.formats) and converted is None:
            raise BackendUnavailable(
                f"tensorflow needs a Keras model: {model.ref.label} was not converted by onnx2keras "
                "in the parent (hepinfer bench does that; pip install 'hepinfer[onnx2keras]')"
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep the worker's output for errors
        if options.isa != "native":
            os.environ["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA[options.isa]
        tf = require("tensorflow", "the tensorflow backend")
        self._tf = tf
        self.options = options
        self.spec = model.spec
        threading = tf.config.threading
        if options.threads > 0:
            _set_pool(
                threading.set_intra_op_parallelism_threads,
                threading.get_intra_op_parallelism_threads,
                options.threads,
                "intra-op",
            )
        if options.inter_op_threads > 0:
            _set_pool(
                threading.set_inter_op_parallelism_threads,
                threading.get_inter_op_parallelism_threads,
                options.inter_op_threads,
                "inter-op",
            )
        self.fn: Any = None
        if "tf" in model.formats:
            self._load_file(model, options)
            return
        if converted is not None:
            from hepinfer.zoo.native_file import load_keras_file

            self.model = load_keras_file(converted)
        else:
            self.model = model.keras_model()
        if options.mode == "function":
            keras_model = self.model

            def forward(*xs: Any) -> Any:
                return keras_model(list(xs) if len(xs) > 1 else xs[0], training=False)

            signature = [
                tf.TensorSpec([None if d == "batch" else d for d in t.shape], t.dtype, name=t.name)
                for t in self.spec.inputs
            ]
            self.fn = tf.function(forward, input_signature=signature, jit_compile=options.xla)
        # The mode's entry point, chosen once: the timed call does no dispatch of its own.
        self._call: Any = {
            "function": self.fn,
            "call": self._call_model,
            "predict_on_batch": self.model.predict_on_batch,
        }[options.mode]

    def _load_file(self, model: ModelArtifact, options: TensorFlowOptions) -> None:
        """A user's Keras file, SavedModel or GraphDef as a function of the inputs (spec order)."""
        from hepinfer.convert.tf_graph import tf_callable

        fn, keep = tf_callable(model.ref, self.spec)
        self._keep = keep  # the variables the function reads
        is_keras = model.ref.kind == "keras"
        if options.mode != "function" and not is_keras:
            raise ConfigurationError(
                f"tensorflow.mode={options.mode} calls a Keras model; {model.ref.label} is a "
                f"{model.ref.kind} (use tensorflow.mode=function)"
            )
        if options.xla and model.ref.kind == "graphdef":
            raise ConfigurationError("tensorflow.xla applies to tf.functions; a GraphDef runs as imported")
        if is_keras:
            self.model = keep
        if options.mode == "function":
            if options.xla:
                python_fn = fn.python_function
                fn = self._tf.function(python_fn, input_signature=fn.input_signature, jit_compile=True)
            self.fn = fn
            self._call = fn
            return
        self._call = {"call": self._call_model, "predict_on_batch": self.model.predict_on_batch}[options.mode]

    def _call_model(self, x: Any) -> Any:
        return self.model(x, training=False)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """The call's arguments: tf tensors (function, call) or numpy arrays (predict).

        ``function`` takes the inputs in the spec's order; ``call`` and ``predict_on_batch``
        take the one input, or the list of them (as Keras does).
        """
        check_inputs(self.spec, inputs)
        arrays = [np.ascontiguousarray(inputs[t.name]) for t in self.spec.inputs]
        values: list[Any] = arrays
        if self.options.mode != "predict_on_batch":
            values = [self._tf.constant(a) for a in arrays]
        if self.fn is not None:
            if hasattr(self.fn, "get_concrete_function"):
                self.fn.get_concrete_function(*values)  # trace now, not in the first timed call
            return tuple(values)
        return (values if len(values) > 1 else values[0],)

    def run(self, prepared: Prepared) -> Any:
        """One call in the chosen mode."""
        return self._call(*prepared)

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by the spec's names, in the Keras model's output order."""
        if isinstance(raw, dict):
            values = [raw[k] for k in (self.model.output_names if hasattr(self, "model") else sorted(raw))]
        else:
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
        names = [t.name for t in self.spec.outputs]
        return {n: np.array(v) for n, v in zip(names, values, strict=True)}

    def settings(self) -> dict[str, Any]:
        """TensorFlow's pools, versions, XLA and oneDNN."""
        tf = self._tf
        import keras

        return {
            "mode": self.options.mode,
            "xla": self.options.xla,
            "intra_op_parallelism_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_parallelism_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
            # oneDNN is on by default on x86 CPUs unless TF_ENABLE_ONEDNN_OPTS=0.
            "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
            "isa": self.options.isa,
            "isa_env": {"ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA")},
        }


def _set_pool(setter: Any, getter: Any, value: int, which: str) -> None:
    """Set a TensorFlow pool; once TF has started, only the value it already has is accepted."""
    try:
        setter(value)
    except RuntimeError as err:
        if getter() != value:
            raise ConfigurationError(
                f"TensorFlow's {which} pool was already started in this process with {getter()} "
                f"threads; {value} needs a fresh process (hepinfer bench starts one per run)"
            ) from err
