"""TensorFlow models as users hold them: a callable for each format, and tf2onnx to ONNX.

- Keras files (.keras, .h5): ``keras.saving.load_model``;
- SavedModel directories: their ``serving_default`` signature;
- TF1 frozen GraphDefs (.pb): imported with ``tf.compat.v1`` into a wrapped function and
  pruned to the placeholders and outputs; Keras's learning-phase placeholder is fed False
  (inference), as CMSSW feeds it.

``tf_callable`` is what the tensorflow backend calls (a concrete function of the inputs in
the spec's order); ``export_native`` converts the same callable with tf2onnx, cached by the
file's digest, and names the ONNX tensors after the spec so that every backend's outputs line
up with the native run's.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Any

from hepinfer._optional import require
from hepinfer.cache import cache_dir, digest, file_digest, publish
from hepinfer.convert.keras_onnx import DEFAULT_OPSET, KerasExport, _rename
from hepinfer.errors import ConversionError, first_line
from hepinfer.zoo import ModelRef, ModelSpec
from hepinfer.zoo.native_file import (
    LEARNING_PHASE,
    graph_io,
    load_keras_file,
    read_graphdef,
    serving_signature,
)


def signature_of(spec: ModelSpec) -> list[Any]:
    """tf.TensorSpecs of the inputs, the batch axis (and any other symbol) left free."""
    import tensorflow as tf

    return [
        tf.TensorSpec([d if isinstance(d, int) else None for d in t.shape], t.dtype, name=t.name)
        for t in spec.inputs
    ]


def graph_function(path: Path, spec: ModelSpec) -> Any:
    """The frozen graph as a concrete function of its placeholders (spec order) -> outputs."""
    import tensorflow as tf

    graph_def = read_graphdef(path)
    placeholders, outputs = graph_io(path)
    phases = [n.name for n in graph_def.node if n.op == "Placeholder" and n.name.endswith(LEARNING_PHASE)]

    def imports() -> None:
        feed = {f"{p}:0": tf.constant(False) for p in phases}  # inference, not training
        tf.compat.v1.import_graph_def(graph_def, input_map=feed, name="")

    wrapped = tf.compat.v1.wrap_function(imports, [])
    graph = wrapped.graph
    by_name = {p: graph.get_tensor_by_name(f"{p}:0") for p in placeholders}
    feeds = [by_name[t.name] for t in spec.inputs]
    fetches = [graph.get_tensor_by_name(f"{o}:0") for o in outputs]
    try:
        pruned = wrapped.prune(feeds, fetches)
    except Exception as err:
        raise ConversionError(
            f"{path.name}: could not prune the graph to its outputs: {first_line(err)}"
        ) from err
    return pruned


def tf_callable(ref: ModelRef, spec: ModelSpec) -> tuple[Any, Any]:
    """(function of the inputs in spec order, the object that keeps its variables alive)."""
    import tensorflow as tf

    path = Path(ref.name)
    if ref.kind == "graphdef":
        fn = graph_function(path, spec)
        return fn, fn
    if ref.kind == "savedmodel":
        signature = serving_signature(path)
        names = [t.name for t in spec.inputs]
        outs = sorted(signature.structured_outputs)

        def serve(*xs: Any) -> Any:
            result = signature(**dict(zip(names, xs, strict=True)))
            return [result[k] for k in outs]

        return tf.function(serve, input_signature=signature_of(spec)), signature
    model = load_keras_file(path) if ref.kind == "keras" else None
    assert model is not None

    def forward(*xs: Any) -> Any:
        return model(list(xs) if len(xs) > 1 else xs[0], training=False)

    return tf.function(forward, input_signature=signature_of(spec)), model


def export_native(ref: ModelRef, spec: ModelSpec, opset: int = DEFAULT_OPSET) -> KerasExport:
    """A Keras file, SavedModel or GraphDef as one ONNX file via tf2onnx, cached by content."""
    tf2onnx = require("tf2onnx", "converting a TensorFlow model to ONNX (pip install 'hepinfer[tensorflow]')")
    import tensorflow as tf

    path = Path(ref.name)
    content = (
        digest(*(file_digest(p) for p in sorted(path.rglob("*")) if p.is_file()))
        if path.is_dir()
        else file_digest(path)
    )
    shapes = [t.describe() for t in spec.inputs]
    outputs = [t.name for t in spec.outputs]  # a conversion to other outputs is another file
    key = digest(content, ref.kind, shapes, outputs, opset, tf2onnx.__version__, tf.__version__)
    out = cache_dir() / "onnx" / f"{ref.safe_name}-{ref.kind}-tf2onnx-{key}.onnx"
    if out.exists():
        return KerasExport(out, tf2onnx.__version__, opset, 0.0, cached=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            if ref.kind == "graphdef":
                proto = _from_graphdef(tf2onnx, path, spec, opset)
            else:
                fn, _keep = tf_callable(ref, spec)
                proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature_of(spec), opset=opset)
    except ConversionError:
        raise
    except Exception as err:
        raise ConversionError(
            f"tf2onnx failed on {ref.label}: {type(err).__name__}: {first_line(err)}"
        ) from err
    seconds = time.perf_counter() - start
    _rename(proto, [t.name for t in spec.inputs], [t.name for t in spec.outputs])
    _free_batch(proto)
    tmp = out.with_suffix(".tmp.onnx")
    tmp.write_bytes(proto.SerializeToString())
    publish(tmp, out)
    return KerasExport(out, tf2onnx.__version__, opset, seconds, cached=False)


def _from_graphdef(tf2onnx: Any, path: Path, spec: ModelSpec, opset: int) -> Any:
    """tf2onnx on the frozen graph, with the learning phase a constant False whose dead
    branches grappler removes first (tf2onnx cannot convert Keras's dropout Switch/Merge)."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
    from tensorflow.python.grappler import tf_optimizer

    graph_def = read_graphdef(path)
    _, outputs = graph_io(path)
    shapes = {t.name: [d if isinstance(d, int) else None for d in t.shape] for t in spec.inputs}
    for node in graph_def.node:
        if node.op == "Placeholder" and node.name.endswith(LEARNING_PHASE):
            node.op = "Const"
            node.attr.clear()
            node.attr["dtype"].type = tf.bool.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(False))
    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    meta.collection_def["train_op"].node_list.value.extend([f"{o}:0" for o in outputs])
    config = config_pb2.ConfigProto()
    config.graph_options.rewrite_options.optimizers.extend(["constfold", "loop", "dependency", "constfold"])
    optimized = tf_optimizer.OptimizeGraph(config, meta)
    for node in optimized.node:
        if node.name in shapes:
            node.attr["shape"].shape.CopyFrom(tf.TensorShape(shapes[node.name]).as_proto())
    proto, _ = tf2onnx.convert.from_graph_def(
        optimized,
        input_names=[f"{t.name}:0" for t in spec.inputs],
        output_names=[f"{o}:0" for o in outputs],
        opset=opset,
    )
    return proto


def _free_batch(proto: Any) -> None:
    """Name the first axis of every input and output ``batch`` where tf2onnx left it unknown."""
    for vi in [*proto.graph.input, *proto.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_param = "batch"
