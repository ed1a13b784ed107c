"""What each available backend cannot run, asked of the backends themselves
(``Backend.unsupported``), so that a missing operator shows before a benchmark fails on it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hepinfer.backends.base import Backend
from hepinfer.backends.registry import backend_class, names
from hepinfer.doctor.findings import Finding
from hepinfer.errors import HepinferError, first_line


def onnx_backends() -> list[str]:
    """The built-in CPU backends that take an ONNX file and can say what they refuse."""
    out = []
    for name in names():
        cls = backend_class(name)
        asks = cls.unsupported.__func__ is not Backend.unsupported.__func__  # type: ignore[attr-defined]
        if "onnx" in cls.formats and cls.devices == frozenset({"cpu"}) and asks:
            out.append(name)
    return out


def ask(onnx_path: Path, backends: Sequence[str] | None = None) -> dict[str, list[str] | str | None]:
    """Each backend's answer: the operators it refuses ([] none), None when it cannot tell,
    or a string saying why it is not available here."""
    answers: dict[str, list[str] | str | None] = {}
    for name in backends if backends is not None else onnx_backends():
        cls = backend_class(name)
        reason = cls.unavailable_reason()
        if reason is not None:
            answers[name] = f"unavailable: {reason}"
            continue
        try:
            answers[name] = cls.unsupported(onnx_path)
        except HepinferError as err:
            answers[name] = [f"check failed: {first_line(err)}"]
    return answers


def findings(answers: dict[str, list[str] | str | None]) -> list[Finding]:
    """One finding per backend that refuses part of the model."""
    out = []
    for name, ops in answers.items():
        if isinstance(ops, list) and ops:
            out.append(
                Finding(
                    f"unsupported-{name}",
                    "warning",
                    f"{name} cannot run this model: {', '.join(ops)}",
                    {"backend": name, "operators": ops},
                    advice=f"leave {name} out, or rewrite these operators before export",
                )
            )
    return out
