"""The model doctor: what an export did wrong (``examine``), the repair (``repair``), and the
proof that the repair is faster and still gives the same answers (``verify``).

Findings are plain data (``Health``, ``Finding``); ``hepinfer doctor`` prints them, ``--json``
writes them, and the HTML report renders them from ``RESULTS.health.json`` (``store``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hepinfer.convert.onnx_graph import GraphIndex
from hepinfer.doctor import backends as _backends
from hepinfer.doctor import checks, padding
from hepinfer.doctor.findings import HEALTH_FORMAT, SEVERITIES, Finding, Health
from hepinfer.errors import ModelError, ResultsError
from hepinfer.report.health import health_path
from hepinfer.zoo import ModelRef, ModelSpec, model_ref, spec_of

__all__ = [
    "HEALTH_FORMAT",
    "SEVERITIES",
    "Finding",
    "Health",
    "examine",
    "examine_file",
    "health_path",
    "onnx_file",
    "store",
]


def onnx_file(
    model: str, params: Mapping[str, Any] | None = None, exporter: str = "dynamo"
) -> tuple[ModelRef, ModelSpec, Path]:
    """The model's reference, spec and ONNX file (a zoo model is exported, cached)."""
    from hepinfer.convert.artifact import ModelArtifact

    ref = model_ref(model, params)
    spec = spec_of(ref)
    return ref, spec, ModelArtifact(ref, spec, exporter=exporter).onnx_path()


def examine(
    model: str,
    params: Mapping[str, Any] | None = None,
    exporter: str = "dynamo",
    backends: Sequence[str] | None = None,
) -> Health:
    """Every check on a zoo model (its export) or an ONNX file; ``backends`` None asks every
    built-in CPU backend that takes ONNX, ``[]`` none."""
    ref, spec, path = onnx_file(model, params, exporter)
    return examine_file(path, spec, ref.label, backends)


def examine_file(
    path: Path, spec: ModelSpec | None = None, label: str | None = None, backends: Sequence[str] | None = None
) -> Health:
    """Every check on one ONNX file."""
    import onnx

    from hepinfer.zoo.onnx_file import load_onnx, spec_from_onnx

    try:
        load_onnx(path)  # a missing or unreadable file fails here, with its one-line error
        model = onnx.load(str(path), load_external_data=False)
    except ModelError:
        if not path.is_file():
            raise
        # Weights in external files that are not there: the graph is still examined.
        model = onnx.load(str(path), load_external_data=False)
        if not checks.external_data(GraphIndex.of(model), path):
            raise
        spec, backends = None, []
    else:
        spec = spec or spec_from_onnx(path)
    g = GraphIndex.of(model)
    found: list[Finding] = [
        *checks.initializers_in_inputs(g),
        *(checks.fixed_batch(g, spec) + padding.hazards(g, spec) if spec is not None else []),
        *checks.leftovers(g),
        *checks.float64(g),
        *checks.unused_initializers(g),
        *checks.external_data(g, path),
        *checks.versions(g),
    ]
    answers = _backends.ask(path, backends)
    found += _backends.findings(answers)
    found.sort(key=lambda f: SEVERITIES.index(f.severity))
    return Health(
        model=label or path.name,
        path=str(path),
        opset=checks.default_opset(model),
        ir_version=int(model.ir_version),
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        nodes=len(model.graph.node),
        findings=tuple(found),
        backends=answers,
    )


def store(health: Health, results: Path) -> Path:
    """Put ``health`` beside ``results`` (replacing the model's earlier one); returns the file."""
    path = health_path(results)
    docs: dict[str, Any] = {}
    if path.exists():
        try:
            docs = json.loads(path.read_text())
        except ValueError as err:
            raise ResultsError(f"{path} is not JSON ({err}); delete it and run the doctor again") from err
    docs[health.model] = health.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(docs, indent=1, default=str))
    tmp.replace(path)
    return path
