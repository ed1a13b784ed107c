"""The child side of ``convert.hls4ml.build_library``: run in an interpreter that has hls4ml
(and Keras, PyTorch or qonnx for the front end), it loads the source model, converts it with
hls4ml 1.3, compiles the C simulation with g++ and writes the build's description (an
``HlsBuild``) for the parent. A conversion error is printed after ``CONVERSION_ERROR_PREFIX``.

    python -m hepinfer.convert.hls4ml_child REQUEST.json BUILD.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hepinfer.convert.hls4ml import CONVERSION_ERROR_PREFIX, HlsBuild, HlsSettings, HlsTensor
from hepinfer.errors import ConversionError

# Operators qonnx's clean-up may leave that hls4ml's ONNX front end skips.
_ONNX_SKIPPED = ("Dropout", "Identity")


def _qonnx_cleaned(path: Path, label: str, hls4ml_version: str) -> Any:
    """The ONNX file as hls4ml 1.3's ONNX front end reads it: one event (the batch axis fixed
    to 1: the C simulation computes one event per call), then qonnx's clean-up, channels-last
    and Gemm -> MatMul, cleaned again; refused in one line naming the first operator the front
    end has no parser for."""
    import onnx
    from hls4ml.converters.onnx_to_hls import get_supported_onnx_layers
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    proto = onnx.load(str(path))
    weights = {t.name for t in proto.graph.initializer}
    for tensor in (*proto.graph.input, *proto.graph.output):
        dims = tensor.type.tensor_type.shape.dim
        if tensor.name not in weights and dims and not dims[0].dim_value:
            dims[0].dim_value = 1  # a named or blank batch axis
    del proto.graph.value_info[:]  # shapes inferred again at batch 1
    supported = set(get_supported_onnx_layers()) | set(_ONNX_SKIPPED)

    def refuse_unsupported(model: Any, also: frozenset[str] = frozenset()) -> None:
        for node in model.graph.node:
            if node.op_type not in supported | also:
                raise ConversionError(
                    f"hls4ml's ONNX front end cannot convert {label} at operator {node.op_type} "
                    f"(node '{node.name}' after qonnx's clean-up; hls4ml {hls4ml_version} has no "
                    "ONNX parser for it)"
                )

    model = cleanup_model(ModelWrapper(proto))
    # Before channels-last, which needs every shape and so fails first on what it cannot infer;
    # Gemm is turned into MatMul + Add below.
    refuse_unsupported(model, frozenset({"Gemm"}))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = cleanup_model(model.transform(GemmToMatMul()))
    refuse_unsupported(model)
    return model


def _hls_config(
    hls4ml: Any,
    model: Any,
    settings: HlsSettings,
    input_shapes: Sequence[Sequence[int]] | None = None,
    frontend: str = "keras",
) -> dict[str, Any]:
    config: dict[str, Any]
    if frontend == "onnx":
        config = hls4ml.utils.config_from_onnx_model(
            model, granularity="model", default_precision=settings.precision
        )
        names = {node.name for node in model.graph.node}
    elif input_shapes is None:
        config = hls4ml.utils.config_from_keras_model(
            model, granularity="model", default_precision=settings.precision
        )
        names = {layer.name for layer in model.layers}
    else:
        shapes = [tuple(s) for s in input_shapes]
        config = hls4ml.utils.config_from_pytorch_model(
            model,
            input_shape=shapes[0] if len(shapes) == 1 else shapes,
            granularity="model",
            default_precision=settings.precision,
        )
        # hls4ml names a PyTorch layer after its module path, dots as underscores.
        names = {n.replace(".", "_") for n, _ in model.named_modules() if n}
    config["Model"]["ReuseFactor"] = settings.reuse_factor
    config["Model"]["Strategy"] = settings.strategy
    for layer, precision in settings.layer_precision:
        if layer not in names:
            raise ConversionError(
                f"hls4ml.layer_precision: the model has no layer '{layer}' "
                f"(its layers: {', '.join(sorted(names))})"
            )
        config.setdefault("LayerName", {})[layer] = {"Precision": precision}
    return config


def _tensors(names: Sequence[str], variables: Sequence[Any]) -> tuple[HlsTensor, ...]:
    return tuple(HlsTensor(n, tuple(int(d) for d in v.shape)) for n, v in zip(names, variables, strict=True))


def _source_model(req: dict[str, Any], hls4ml_version: str) -> tuple[Any, dict[str, str]]:
    """The model hls4ml's front end takes (QONNX-cleaned ONNX, the PyTorch definition or the
    Keras twin) and the versions of the framework it came from."""
    frontend = req.get("frontend", "keras")
    versions = {"keras_version": "", "torch_version": "", "qonnx_version": ""}
    if frontend == "onnx":
        from importlib.metadata import version

        model = _qonnx_cleaned(Path(req["onnx_file"]), Path(req["zoo_name"]).name, hls4ml_version)
        versions["qonnx_version"] = version("qonnx")
    elif frontend == "pytorch":
        import torch

        from hepinfer.zoo import entry

        model = entry(req["zoo_name"]).build(req["zoo_params"]).eval()
        versions["torch_version"] = torch.__version__
    else:
        import keras

        from hepinfer.zoo.keras_twins import load_keras

        model = load_keras(req["zoo_name"], req["zoo_params"])
        versions["keras_version"] = keras.__version__
    return model, versions


def _converted(
    hls4ml: Any, model: Any, req: dict[str, Any], settings: HlsSettings
) -> tuple[Any, Any, float, float]:
    """hls4ml's project written and its C simulation compiled: (model, library, seconds of
    each); hls4ml's chatter on stdout is kept out of the worker's log."""
    import contextlib
    import io

    frontend = req.get("frontend", "keras")
    convert = {
        "pytorch": hls4ml.converters.convert_from_pytorch_model,
        "onnx": hls4ml.converters.convert_from_onnx_model,
    }.get(frontend, hls4ml.converters.convert_from_keras_model)
    t0 = time.perf_counter()
    noise = io.StringIO()
    with contextlib.redirect_stdout(noise):
        shapes = req["input_shapes"] if frontend == "pytorch" else None
        config = _hls_config(hls4ml, model, settings, shapes, frontend)
        hls_model = convert(
            model,
            hls_config=config,
            output_dir=req["project_dir"],
            project_name="hepinfer",
            backend=settings.backend,
            io_type=settings.io_type,
        )
        hls_model.write()
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(noise):
        library = hls_model.config.backend.compile(hls_model)
    return hls_model, library, convert_s, time.perf_counter() - t0


def _child(request_path: Path, meta_path: Path) -> None:
    import hls4ml

    from hepinfer.convert.sofie import compiler_version

    req = json.loads(request_path.read_text())
    given = req["settings"]
    settings = HlsSettings(**{**given, "layer_precision": tuple(map(tuple, given["layer_precision"]))})
    model, versions = _source_model(req, hls4ml.__version__)
    hls_model, library, convert_s, compile_s = _converted(hls4ml, model, req, settings)
    in_vars, out_vars = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(in_vars) != len(req["input_names"]) or len(out_vars) != len(req["output_names"]):
        raise ConversionError(
            f"hls4ml's model has {len(in_vars)} inputs and {len(out_vars)} outputs, the spec "
            f"{len(req['input_names'])} and {len(req['output_names'])}"
        )
    build = HlsBuild(
        library=str(Path(library).resolve()),
        function="hepinfer_float",
        project_dir=req["project_dir"],
        inputs=_tensors(req["input_names"], in_vars),
        outputs=_tensors(req["output_names"], out_vars),
        settings=settings,
        hls4ml_version=hls4ml.__version__,
        keras_version=versions["keras_version"],
        torch_version=versions["torch_version"],
        qonnx_version=versions["qonnx_version"],
        onnx_file=req.get("onnx_file", ""),
        compiler_version=compiler_version("g++"),
        convert_s=convert_s,
        compile_s=compile_s,
        interpreter=sys.executable,
        key=req["key"],
        layers=tuple(layer.name for layer in hls_model.get_layers()),
        frontend=req.get("frontend", "keras"),
    )
    tmp = meta_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(build.to_dict()))
    os.replace(tmp, meta_path)


if __name__ == "__main__":  # python -m hepinfer.convert.hls4ml_child REQUEST.json BUILD.json
    try:
        _child(Path(sys.argv[1]), Path(sys.argv[2]))
    except ConversionError as err:
        print(CONVERSION_ERROR_PREFIX + str(err), file=sys.stderr)
        sys.exit(1)
