"""The repairs ``hepinfer doctor MODEL --fix OUT.onnx`` applies, in this order: initializers out
of the graph inputs, the batch axis made variable (where no constant pins it), simplification
(onnxslim, else onnxsim, else hepinfer's own: Identity/Dropout and unused weights removed),
optionally ONNX Runtime's offline-optimised graph; then the ONNX checker on the result."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hepinfer.convert.onnx_graph import GraphIndex
from hepinfer.doctor.checks import batch_pins
from hepinfer.errors import ConfigurationError, ConversionError, first_line
from hepinfer.zoo import ModelSpec

Simplifier = Literal["auto", "onnxslim", "onnxsim", "builtin", "none"]
SIMPLIFIERS: tuple[str, ...] = ("auto", "onnxslim", "onnxsim", "builtin", "none")
BATCH_SYMBOL = "N"


@dataclass
class Repair:
    """What was done to the model, step by step, and what the checker says of the result."""

    path: Path
    steps: list[dict[str, Any]] = field(default_factory=list)
    checker: str | None = None  # the checker's objection; None: it accepts the file
    rebatched: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "path": str(self.path),
            "steps": self.steps,
            "checker": self.checker,
            "rebatched": self.rebatched,
        }


def remove_initializer_inputs(model: Any) -> list[str]:
    """Drop the graph inputs that are initializers; returns their names."""
    names = {t.name for t in model.graph.initializer}
    keep = [vi for vi in model.graph.input if vi.name not in names]
    removed = [vi.name for vi in model.graph.input if vi.name in names]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return removed


def rebatch(model: Any, batch: int) -> list[str]:
    """Rename the first axis of every input and output of size ``batch`` to ``N``; the inferred
    shapes inside (value_info) are dropped since they carry the old batch. Refuses a model
    whose batch a constant shape pins. Returns the tensors renamed."""
    pins = batch_pins(GraphIndex.of(model), batch)
    if pins:
        raise ConversionError(
            f"the batch size {batch} is pinned by {pins[0]}; re-export the model with a dynamic batch axis"
        )
    renamed = []
    names = {t.name for t in model.graph.initializer}
    for vi in [*model.graph.input, *model.graph.output]:
        if vi.name in names or not vi.type.HasField("tensor_type"):
            continue
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[0].HasField("dim_value") and dims[0].dim_value == batch:
            dims[0].dim_param = BATCH_SYMBOL
            renamed.append(vi.name)
    del model.graph.value_info[:]
    return renamed


def remove_noops(model: Any) -> dict[str, int]:
    """Remove Identity and (inference-time) Dropout nodes and unused initializers, rewiring
    their consumers; an Identity that writes a graph output stays (the output keeps its name)."""
    g = model.graph
    outputs = {o.name for o in g.output}
    rename: dict[str, str] = {}
    kept, removed = [], {"Identity": 0, "Dropout": 0}
    for node in g.node:
        mask_used = node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]
        if node.op_type in removed and not mask_used and node.output[0] not in outputs:
            source = node.input[0]
            rename[node.output[0]] = rename.get(source, source)
            removed[node.op_type] += 1
            continue
        kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del g.node[:]
    g.node.extend(kept)
    used = {n for node in g.node for n in node.input} | outputs
    from hepinfer.convert.onnx_graph import subgraph_names

    used |= {n for node in g.node for n in subgraph_names(node)}
    dead = [t for t in g.initializer if t.name not in used]
    for t in dead:
        g.initializer.remove(t)
    return {**{k: v for k, v in removed.items() if v}, "unused_initializers": len(dead)}


def simplify(model: Any, tool: Simplifier) -> tuple[Any, dict[str, Any]]:
    """The simplified model and what did it (onnxslim or onnxsim where installed)."""
    if tool not in SIMPLIFIERS:
        raise ConfigurationError(f"--simplify {tool}: choose one of {', '.join(SIMPLIFIERS)}")
    if tool == "none":
        return model, {"step": "simplify", "tool": "none"}
    if tool == "auto":
        found = [t for t in ("onnxslim", "onnxsim") if importlib.util.find_spec(t)]
        tool = "onnxslim" if "onnxslim" in found else "onnxsim" if found else "builtin"
    if tool == "builtin":
        return model, {"step": "simplify", "tool": "hepinfer", "removed": remove_noops(model)}
    from hepinfer._optional import require

    module = require(tool, f"--simplify {tool}")
    before = len(model.graph.node)
    try:
        if tool == "onnxslim":
            model = module.slim(model)
        else:
            model, ok = module.simplify(model)
            if not ok:
                raise ConversionError("onnxsim could not validate the simplified model")
    except ConversionError:
        raise
    except Exception as err:
        raise ConversionError(
            f"{tool} failed on this model: {first_line(err)}; try --simplify builtin"
        ) from err
    extra = remove_noops(model)  # what the tool left (a Dropout it does not know is inference)
    version = getattr(module, "__version__", "?")
    return model, {
        "step": "simplify",
        "tool": f"{tool} {version}",
        "nodes_before": before,
        "nodes_after": len(model.graph.node),
        "removed_after": extra,
    }


def repair(
    src: Path,
    dst: Path,
    spec: ModelSpec,
    simplifier: Simplifier = "auto",
    rebatch_fixed: bool = True,
    ort_level: str | None = None,
) -> Repair:
    """Write the repaired model to ``dst`` and check it (see the module's docstring)."""
    import onnx

    if dst.resolve() == src.resolve():
        raise ConfigurationError(
            f"--fix {dst}: write the repaired model to a new file, not over the original"
        )
    model = onnx.load(str(src))
    done = Repair(dst)
    removed = remove_initializer_inputs(model)
    if removed:
        done.steps.append({"step": "initializers out of the inputs", "count": len(removed)})
    if rebatch_fixed and spec.fixed_batch is not None and any(len(t.shape) >= 2 for t in spec.inputs):
        pins = batch_pins(GraphIndex.of(model), spec.fixed_batch)
        if pins:
            done.steps.append({"step": "re-batch", "skipped": f"pinned by {pins[0]}"})
        else:
            renamed = rebatch(model, spec.fixed_batch)
            done.rebatched = True
            done.steps.append(
                {"step": "re-batch", "from": spec.fixed_batch, "to": BATCH_SYMBOL, "tensors": renamed}
            )
    model, step = simplify(model, simplifier)
    done.steps.append(step)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    if ort_level is not None:
        from hepinfer.backends.registry import backend_class

        ort = backend_class("onnxruntime")
        tmp = dst.with_name(dst.stem + ".pre-ort.onnx")
        dst.replace(tmp)
        try:
            ort.optimize_offline(tmp, dst, ort_level)  # type: ignore[attr-defined]
        finally:
            tmp.unlink(missing_ok=True)
        done.steps.append({"step": "onnxruntime offline optimisation", "level": ort_level})
    try:
        onnx.checker.check_model(str(dst), full_check=True)
    except Exception as err:
        done.checker = first_line(err)
    return done
