"""Operations that padding turns into NaN or Inf.

A padded particle is all zeros: the input builders zero every input that shares a mask's
particle axis on the padding (``runner.validate.padded_axis`` says which inputs and axes).
Starting from those inputs, the zeros are followed through the operations that keep a zero a
zero (slices, reshapes, products, sums of two padded tensors ...). An operation that divides
by, takes the log of, or raises to a negative power such a tensor returns NaN or Inf on the
padding, and ``NaN * 0`` is NaN: a later mask does not remove it. The legacy torch exporter
writes ``atan2(y, x)`` as ``Atan(Div(y, x))`` plus corrections, so ``atan2(0, 0)``, which
PyTorch defines as 0, becomes NaN.
"""

from __future__ import annotations

from typing import Any

from hepinfer.convert.onnx_graph import GraphIndex, node_label, topological
from hepinfer.doctor.checks import _names
from hepinfer.doctor.findings import Finding, Severity
from hepinfer.zoo import ModelSpec

# Operations whose output is zero wherever their first input is.
_KEEP_FIRST = {
    "Identity", "Cast", "Neg", "Relu", "LeakyRelu", "Abs", "Transpose", "Reshape", "Squeeze",
    "Unsqueeze", "Flatten", "Slice", "Gather", "GatherElements", "Split", "Expand", "Tile",
    "Sign", "Sin", "Tanh", "Erf", "Sqrt", "Atan", "Asin", "Sinh", "Pad", "Dropout", "Concat",
    "MatMul", "Floor", "Ceil", "Round",
}  # fmt: skip
# Operations whose output is zero where any input is.
_KEEP_ANY = {"Mul", "Einsum"}
# Operations whose output is zero where all inputs are.
_KEEP_ALL = {"Add", "Sub", "Max", "Min", "Sum", "Where"}


def padded_inputs(spec: ModelSpec) -> list[str]:
    """The inputs that are zero on padded particles (masks and the features sharing their axis)."""
    from hepinfer.runner.validate import padded_axis

    return [t.name for t in spec.inputs if padded_axis(spec, t.name) is not None]


def zero_on_padding(g: GraphIndex, spec: ModelSpec) -> set[str]:
    """Every value of the graph that is zero on the padding, by the rules above."""
    zero = set(padded_inputs(spec))
    for node in topological(g.model.graph):
        ins = [n for n in node.input if n]
        if not ins:
            continue
        op = node.op_type
        if op == "Where":
            hit = len(ins) == 3 and ins[1] in zero and ins[2] in zero
        elif op in _KEEP_ALL:
            hit = all(n in zero or _is_zero(g, n) for n in ins) and any(n in zero for n in ins)
        elif op in _KEEP_ANY or op == "Concat":
            hit = any(n in zero for n in ins)
        elif op == "Pow":
            exponent = g.constant(ins[1]) if len(ins) > 1 else None
            hit = ins[0] in zero and exponent is not None and bool((exponent > 0).all())
        elif op == "Div":
            hit = ins[0] in zero and len(ins) > 1 and ins[1] not in zero
        elif op in _KEEP_FIRST:
            hit = ins[0] in zero
        else:
            hit = False
        if hit:
            zero.update(o for o in node.output if o)
    return zero


def _is_zero(g: GraphIndex, name: str) -> bool:
    value = g.constant(name)
    return value is not None and value.size > 0 and not value.any()


def hazards(g: GraphIndex, spec: ModelSpec) -> list[Finding]:
    """One finding per kind of operation that the padding's zeros make NaN or Inf."""
    zero = zero_on_padding(g, spec)
    if not zero:
        return []
    found: dict[str, list[tuple[Any, str]]] = {}
    for node in g.model.graph.node:
        ins = list(node.input)
        why = _hazard(g, node, ins, zero)
        if why is not None:
            found.setdefault(node.op_type, []).append((node, why))
    out = []
    inputs = padded_inputs(spec)
    for op, hits in found.items():
        nan = any(w.startswith("0/0") or "NaN" in w for _, w in hits)
        first, why = hits[0]
        evidence: dict[str, Any] = {
            "op": op,
            "count": len(hits),
            "nodes": _names([node_label(n) for n, _ in hits]),
            "why": why,
            "path": g.path_from_inputs(first),
            "padded_inputs": inputs,
        }
        atan = [node_label(n) for n, _ in hits if _feeds(g, n, "Atan")]
        if atan:
            evidence["atan2"] = _names(atan)
        severity: Severity = "error" if nan else "warning" if op != "Sqrt" else "info"
        title = f"{len(hits)} {op} node(s) on tensors that are zero on padded particles: {why}"
        if atan:
            title += " (atan2 written as Atan(Div(y, x)) by the legacy torch exporter: atan2(0, 0) is NaN)"
        out.append(
            Finding(
                f"padding-{op.lower()}",
                severity,
                title,
                evidence,
                advice="guard it in the model (divide by x + eps, torch.where on the mask before the "
                "operation, clamp before log/sqrt) or export with the dynamo exporter; "
                "'hepinfer validate MODEL --layerwise' shows whether the padding reaches it",
            )
        )
    return out


def _hazard(g: GraphIndex, node: Any, ins: list[str], zero: set[str]) -> str | None:
    op = node.op_type
    if op == "Div" and len(ins) > 1 and ins[1] in zero:
        return "0/0 is NaN" if ins[0] in zero else "x/0 is Inf"
    if op == "Reciprocal" and ins and ins[0] in zero:
        return "1/0 is Inf"
    if op == "Log" and ins and ins[0] in zero:
        return "log(0) is -Inf"
    if op == "Pow" and ins and ins[0] in zero:
        exponent = g.constant(ins[1]) if len(ins) > 1 else None
        if exponent is None or bool((exponent < 0).any()):
            return "0 to a negative power is Inf"
    if op == "Atan2" and len(ins) > 1 and ins[0] in zero and ins[1] in zero:
        return "atan2(0, 0) is NaN in some runtimes"
    if op == "Sqrt" and ins and ins[0] in zero:
        return "sqrt(0) is 0 but its slope is infinite; NaN once the zero is a rounding below 0"
    return None


def _feeds(g: GraphIndex, node: Any, op: str) -> bool:
    return any(c.op_type == op for o in node.output for c in g.consumers.get(o, []))
