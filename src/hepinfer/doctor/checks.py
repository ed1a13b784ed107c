"""The structural checks: how the file is written (inputs, batch axis, leftovers, types,
versions, external data). Each takes the graph index (and the spec) and returns findings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hepinfer.convert.onnx_graph import GraphIndex, node_label
from hepinfer.doctor.findings import Finding
from hepinfer.zoo import ModelSpec

# How many names a finding lists before it says "and N more".
SHOWN = 8

# Node -> the input that holds a shape when it is a constant.
SHAPE_INPUT = {"Reshape": 1, "Expand": 1, "ConstantOfShape": 0}


def _names(names: list[str]) -> list[str]:
    return names[:SHOWN] + ([f"... and {len(names) - SHOWN} more"] if len(names) > SHOWN else [])


def initializers_in_inputs(g: GraphIndex) -> list[Finding]:
    """Weights listed among the graph inputs: ORT warns per weight and cannot fold them."""
    listed = [vi.name for vi in g.model.graph.input if vi.name in g.initializers]
    if not listed:
        return []
    total = len(g.model.graph.input)
    return [
        Finding(
            "initializers-in-inputs",
            "warning",
            f"{len(listed)} of the {total} graph inputs are initializers (weights): ONNX Runtime "
            "warns once per weight and treats them as overridable, so it skips constant folding "
            "and the fusions that need constant weights",
            {"count": len(listed), "graph_inputs": total, "names": _names(listed)},
            fix="take the initializers out of the graph inputs",
        )
    ]


def fixed_batch(g: GraphIndex, spec: ModelSpec) -> list[Finding]:
    """A batch size fixed inside the file, and whether a constant shape pins it."""
    batch = spec.fixed_batch
    if batch is None or not any(len(t.shape) >= 2 for t in spec.inputs):
        return []
    pins = batch_pins(g, batch)
    evidence: dict[str, Any] = {
        "batch": batch,
        "inputs": [f"{t.name}{list(t.shape)}" for t in spec.inputs],
        "variable": not pins,
    }
    if not pins:
        return [
            Finding(
                "fixed-batch",
                "warning",
                f"the batch size is fixed to {batch} inside the file; no Reshape, Expand or "
                "ConstantOfShape constant pins it, so the batch axis can be made variable",
                evidence,
                fix="rename the first axis of every input and output to a symbol (N), re-batched",
            )
        ]
    evidence["pinned_by"] = _names(pins)
    first = pins[0]
    return [
        Finding(
            "fixed-batch",
            "error" if batch > 1 else "warning",
            f"the batch size is fixed to {batch} inside the file and a constant shape pins it "
            f"({first}): the model fails or is wrong at any other batch",
            evidence,
            advice="re-export with a dynamic batch axis (torch.onnx.export dynamic_axes / the dynamo "
            "exporter's dynamic_shapes), so that the exporter writes the shape from Shape nodes",
        )
    ]


def batch_pins(g: GraphIndex, batch: int) -> list[str]:
    """Nodes whose constant target shape carries the batch size in its first entry.

    A first entry that is a positive multiple of the batch (batch times heads, written by the
    legacy torch exporter as one number) pins it too; 0 (copy) and -1 (infer) do not.
    """
    pins = []
    for node in g.model.graph.node:
        k = SHAPE_INPUT.get(node.op_type)
        if k is None or len(node.input) <= k:
            continue
        if node.op_type != "ConstantOfShape" and g.constant(node.input[0]) is not None:
            continue  # reshaping a constant (a weight) is not the batch's business
        shape = g.constant(node.input[k])
        if shape is None or shape.ndim != 1 or shape.size == 0:
            continue
        first = int(shape[0])
        if first > 0 and first % batch == 0:
            pins.append(f"{node_label(node)} ({node.op_type} to {shape.tolist()})")
    return pins


def leftovers(g: GraphIndex) -> list[Finding]:
    """Unfused or leftover patterns a simplifier removes."""
    out: list[Finding] = []
    nodes = list(g.model.graph.node)
    counts = Counter(n.op_type for n in nodes)
    fusable = []
    for node in nodes:
        if node.op_type != "BatchNormalization" or not node.input:
            continue
        src = g.producer.get(node.input[0])
        alone = len(g.consumers.get(node.input[0], [])) == 1
        if src is not None and src.op_type in ("Conv", "Gemm", "ConvTranspose") and alone:
            fusable.append(f"{node_label(src)} -> {node_label(node)}")
    if fusable:
        out.append(
            Finding(
                "unfused-batchnorm",
                "info",
                f"{len(fusable)} BatchNormalization nodes directly follow a Conv/Gemm and can be folded "
                "into its weights",
                {"count": len(fusable), "pairs": _names(fusable)},
                fix="fold them (onnxslim / onnxsim); ONNX Runtime also does it at each load",
            )
        )
    chains = []
    for node in nodes:
        if node.op_type in ("Transpose", "Cast") and node.input:
            src = g.producer.get(node.input[0])
            if src is not None and src.op_type == node.op_type:
                chains.append(f"{node_label(src)} -> {node_label(node)}")
    if chains:
        out.append(
            Finding(
                "transpose-cast-chains",
                "info",
                f"{len(chains)} Transpose->Transpose or Cast->Cast chains",
                {"count": len(chains), "chains": _names(chains)},
                fix="merge or drop them (simplification)",
            )
        )
    idle = {op: counts[op] for op in ("Identity", "Dropout") if counts.get(op)}
    if idle:
        names = [node_label(n) for n in nodes if n.op_type in idle]
        out.append(
            Finding(
                "identity-dropout",
                "info",
                ", ".join(f"{n} {op} nodes" for op, n in idle.items()) + " (no-ops at inference)",
                {"counts": idle, "names": _names(names)},
                fix="remove them (simplification)",
            )
        )
    return out


def float64(g: GraphIndex) -> list[Finding]:
    """Nodes computing in float64 and float64 weights in a model that is otherwise float32."""
    double = 11  # onnx.TensorProto.DOUBLE
    nodes = [node_label(n) for n in g.model.graph.node if any(g.elem_type.get(o) == double for o in n.output)]
    weights = [t.name for t in g.model.graph.initializer if t.data_type == double]
    if not nodes and not weights:
        return []
    return [
        Finding(
            "float64",
            "warning",
            f"float64 islands: {len(nodes)} nodes compute in float64, {len(weights)} weights are float64 "
            "(half the SIMD width and twice the memory traffic of float32; some backends refuse them)",
            {"nodes": len(nodes), "node_names": _names(nodes), "weights": _names(weights)},
            advice="export in float32 (model.float() before export) unless the precision is needed",
        )
    ]


def unused_initializers(g: GraphIndex) -> list[Finding]:
    """Initializers no node reads and no output returns: dead weight in the file."""
    outputs = {o.name for o in g.model.graph.output}
    unused = [n for n in g.initializers if n not in g.consumers and n not in outputs]
    if not unused:
        return []
    size = sum(_nbytes(g.initializers[n]) for n in unused)
    return [
        Finding(
            "unused-initializers",
            "info",
            f"{len(unused)} initializers are never used ({size / 1e6:.3g} MB of dead weight)",
            {"count": len(unused), "bytes": size, "names": _names(unused)},
            fix="drop them (simplification)",
        )
    ]


def _nbytes(t: Any) -> int:
    import numpy as np
    from onnx.helper import tensor_dtype_to_np_dtype

    n = int(np.prod(t.dims)) if t.dims else 1
    return n * np.dtype(tensor_dtype_to_np_dtype(t.data_type)).itemsize


def versions(g: GraphIndex) -> list[Finding]:
    """Opset and IR version, always reported; an opset older than 13 is a warning (ops such as
    Split, Squeeze and ReduceSum changed form there, and converters support it least)."""
    import onnx

    opset = default_opset(g.model)
    ir = int(g.model.ir_version)
    old = opset < 13
    return [
        Finding(
            "versions",
            "warning" if old else "info",
            f"opset {opset}, IR version {ir} (this onnx writes up to IR {onnx.IR_VERSION})"
            + ("; opset below 13: converters and SOFIE support it least" if old else ""),
            {"opset": opset, "ir_version": ir, "producer": _producer(g.model)},
            advice="re-export at opset 17 or later" if old else None,
        )
    ]


def default_opset(model: Any) -> int:
    """The version of the default ("" / ai.onnx) operator set."""
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _producer(model: Any) -> str:
    return f"{model.producer_name} {model.producer_version}".strip()


def external_data(g: GraphIndex, path: Path) -> list[Finding]:
    """Weights stored outside the .onnx file, and whether those files are there."""
    external = 1  # onnx.TensorProto.EXTERNAL
    files: dict[str, int] = {}
    for t in g.model.graph.initializer:
        if t.data_location == external:
            where = next((e.value for e in t.external_data if e.key == "location"), "?")
            files[where] = files.get(where, 0) + 1
    if not files:
        return []
    missing = sorted(f for f in files if not (path.parent / f).exists())
    return [
        Finding(
            "external-data",
            "error" if missing else "info",
            f"weights in {len(files)} external data file(s) beside the model"
            + (f"; missing: {', '.join(missing)}" if missing else ""),
            {"files": files, "missing": missing},
            advice="copy the data files with the model" if missing else None,
        )
    ]
