"""ONNX -> Keras 3 with onnx2keras, in the parent: a saved .keras file the tensorflow worker
loads (and SOFIE's Keras parser reads), cached by the ONNX file's digest.

The seed's pipeline converts every ONNX model to Keras this way. An operator onnx2keras lacks
(DeepJet's LSTM) fails in one line naming it; the other backends go on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer._optional import require
from hepinfer.cache import cache_dir, digest, file_digest
from hepinfer.errors import ConversionError, first_line

# onnx2keras: "Can't find layer for ..." / KeyError('LSTM') from its converter table.
_OP = re.compile(r"(?:layer for|operation|KeyError: ')\W*(\w+)")


@dataclass(frozen=True)
class KerasConversion:
    """A .keras file made from an ONNX file by onnx2keras, and how."""

    path: Path
    tool_version: str
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        """For the record's one-off costs (``one_off.conversion.onnx_to_keras``)."""
        return {
            "path": str(self.path),
            "tool": "onnx2keras",
            "tool_version": self.tool_version,
            "seconds": self.seconds,
            "cached": self.cached,
        }


def onnx2keras_version() -> str:
    """The installed onnx2keras's version (its module has no __version__)."""
    from importlib.metadata import version

    return version("onnx2keras")


def onnx_to_keras(onnx_path: Path, input_names: list[str]) -> KerasConversion:
    """The ONNX file as a Keras 3 model saved to a .keras file (cached)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    onnx2keras = require("onnx2keras", "ONNX -> Keras (pip install 'hepinfer[onnx2keras]')")
    import keras
    import onnx

    tool = onnx2keras_version()
    key = digest(file_digest(onnx_path), input_names, tool, keras.__version__)
    out = cache_dir() / "keras" / f"{onnx_path.stem}-onnx2keras-{key}.keras"
    if out.exists():
        return KerasConversion(out, tool, 0.0, cached=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(onnx_path))
    start = time.perf_counter()
    watch = _LastOperation()
    try:
        with contextlib.redirect_stdout(io.StringIO()), watch:
            converted = onnx2keras.onnx_to_keras(model, input_names, name_policy="renumerate", verbose=False)
    except Exception as err:
        raise ConversionError(_failure(onnx_path, model, err, watch.op)) from err
    seconds = time.perf_counter() - start
    tmp = out.with_name(out.stem + ".tmp.keras")
    converted.save(str(tmp))
    os.replace(tmp, out)
    return KerasConversion(out, tool, seconds, cached=False)


class _LastOperation(logging.Handler):
    """The operator onnx2keras was converting (its debug log says ``type: OP`` per node)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.op: str | None = None
        self._logger = logging.getLogger("onnx2keras")

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "type: %s" and record.args:
            self.op = str(record.args[0] if isinstance(record.args, tuple) else record.args)

    def __enter__(self) -> _LastOperation:
        self._saved = (self._logger.level, self._logger.propagate)
        self._logger.setLevel(logging.DEBUG)
        self._logger.propagate = False
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved[0])
        self._logger.propagate = self._saved[1]


def _failure(onnx_path: Path, model: Any, err: BaseException, last: str | None = None) -> str:
    """One line: the operator onnx2keras could not convert, when it can be told."""
    text = f"{type(err).__name__}: {err}"
    ops = {n.op_type for n in model.graph.node}
    match = _OP.search(text)
    op = match.group(1) if match and match.group(1) in ops else last
    if op is None:  # onnx2keras raises KeyError(op_type) for an operator it has no converter for
        op = next((o for o in ops if f"'{o}'" in text), None)
    where = f" at operator {op}" if op else ""
    return f"onnx2keras cannot convert {onnx_path.name}{where}: {type(err).__name__}: {first_line(err)}"
