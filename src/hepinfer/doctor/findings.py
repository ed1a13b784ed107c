"""What the doctor finds: one ``Finding`` per export defect, gathered in a ``Health`` value.

A Health is plain data that round-trips through JSON (``to_dict`` / ``from_dict``), so the
report renders it without importing the doctor: ``hepinfer doctor MODEL --out RESULTS.jsonl``
stores it beside the results as ``RESULTS.health.json`` (``HEALTH_FORMAT``, keyed by the model
label the records carry), and ``hepinfer report RESULTS.jsonl --html`` shows it as the model's
"model health" section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hepinfer.report.health import FORMAT as HEALTH_FORMAT  # the stored document's format and version

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One defect: a stable ``code``, how bad it is, what shows it, and the cure.

    ``evidence`` holds the node names and counts; ``fix`` says what ``--fix`` does about it
    (None: hepinfer cannot repair it, ``advice`` says what the user can do).
    """

    code: str
    severity: Severity
    title: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str | None = None
    advice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "evidence": dict(self.evidence),
            "fix": self.fix,
            "advice": self.advice,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of to_dict."""
        return cls(
            code=data["code"],
            severity=data["severity"],
            title=data["title"],
            evidence=dict(data.get("evidence") or {}),
            fix=data.get("fix"),
            advice=data.get("advice"),
        )


@dataclass(frozen=True)
class Health:
    """Everything the doctor found in one model file."""

    model: str  # the label records carry (file name, or zoo name with options)
    path: str
    opset: int
    ir_version: int
    producer: str
    nodes: int
    findings: tuple[Finding, ...] = ()
    # backend -> operators it cannot run ([] all of them; None: it cannot tell; a string:
    # the backend is unavailable here, and why).
    backends: Mapping[str, list[str] | str | None] = field(default_factory=dict)

    def by_code(self, code: str) -> list[Finding]:
        """The findings with this code."""
        return [f for f in self.findings if f.code == code]

    @property
    def worst(self) -> Severity | None:
        """The most severe finding's severity (None: nothing found)."""
        ranks = [SEVERITIES.index(f.severity) for f in self.findings]
        return SEVERITIES[min(ranks)] if ranks else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with its format name."""
        return {
            "format": HEALTH_FORMAT,
            "model": self.model,
            "path": self.path,
            "opset": self.opset,
            "ir_version": self.ir_version,
            "producer": self.producer,
            "nodes": self.nodes,
            "findings": [f.to_dict() for f in self.findings],
            "backends": dict(self.backends),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Health:
        """Inverse of to_dict; a document of another format is refused."""
        from hepinfer.errors import ResultsError

        if data.get("format") != HEALTH_FORMAT:
            raise ResultsError(
                f"health document of format {data.get('format')!r}; this hepinfer reads {HEALTH_FORMAT}"
            )
        return cls(
            model=data["model"],
            path=data["path"],
            opset=data["opset"],
            ir_version=data["ir_version"],
            producer=data["producer"],
            nodes=data["nodes"],
            findings=tuple(Finding.from_dict(f) for f in data["findings"]),
            backends=dict(data.get("backends") or {}),
        )
