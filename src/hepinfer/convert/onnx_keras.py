"""ONNX -> Keras 3 with onnx2keras, in the parent: a saved .keras file the tensorflow worker
loads (and SOFIE's Keras parser reads), cached by the ONNX file's digest.

The seed's pipeline converts every ONNX model to Keras this way. A conversion that fails says
in one line which operator and node it failed at: an operator onnx2keras has no converter for
(DeepJet's LSTM) before converting anything, one whose converter raised by the node it was
converting, and a model onnx2keras made but Keras cannot load again (a Lambda layer holding a
local function, e.g. for l1_ad_vae's ReduceSum) by that layer and the node it came from. The
other backends go on.
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
    lacking = _without_converter(model, onnx_path.name, tool)
    if lacking:
        raise ConversionError(lacking)
    start = time.perf_counter()
    watch = _LastOperation()
    try:
        with contextlib.redirect_stdout(io.StringIO()), watch:
            converted = onnx2keras.onnx_to_keras(model, input_names, name_policy="renumerate", verbose=False)
    except Exception as err:
        raise ConversionError(_failure(onnx_path, model, err, watch.op, watch.node)) from err
    seconds = time.perf_counter() - start
    tmp = out.with_name(out.stem + ".tmp.keras")
    converted.save(str(tmp))
    try:  # what the tensorflow worker and SOFIE's Keras parser will do with it
        keras.saving.load_model(str(tmp), compile=False)
    except Exception as err:
        tmp.unlink(missing_ok=True)
        raise ConversionError(_unloadable(onnx_path, model, err)) from err
    os.replace(tmp, out)
    return KerasConversion(out, tool, seconds, cached=False)


def _without_converter(model: Any, name: str, tool: str) -> str | None:
    """The operators of the graph onnx2keras has no converter for (it looks each node's type up
    in one table, so these fail for certain), as a one-line message; None when it has them all."""
    from onnx2keras.layers import AVAILABLE_CONVERTERS

    missing: dict[str, list[str]] = {}
    for index, node in enumerate(model.graph.node):
        if node.op_type not in AVAILABLE_CONVERTERS:
            missing.setdefault(node.op_type, []).append(node.name or f"#{index}")
    if not missing:
        return None
    ops = ", ".join(
        f"{op} (node '{nodes[0]}'{f' and {len(nodes) - 1} more' if len(nodes) > 1 else ''})"
        for op, nodes in sorted(missing.items())
    )
    them = "them" if len(missing) > 1 else "it"
    return (
        f"onnx2keras cannot convert {name} at operator {ops}: onnx2keras {tool} has no converter for {them}"
    )


# Keras's load error quotes the failing layer's config: "'class_name': 'Lambda', 'config': {'name': 'LAYER_6'"
_LAYER = re.compile(r"'class_name': '(\w+)', 'config': \{'name': '(\w+)'")


def _unloadable(onnx_path: Path, model: Any, err: BaseException) -> str:
    """One line: the layer of onnx2keras's model that Keras cannot load, and the ONNX node it
    was made from (``name_policy="renumerate"`` names node i's layer ``LAYER_i``)."""
    found = [m for m in _LAYER.finditer(str(err)) if m.group(1) != "Functional"]
    where = ""
    if found:
        kind, layer = found[0].groups()
        index = layer.removeprefix("LAYER_").split("_")[0]
        nodes = model.graph.node
        node = nodes[int(index)] if index.isdigit() and int(index) < len(nodes) else None
        source = f", from operator {node.op_type}, node '{node.name}'" if node is not None else ""
        where = f" at layer {layer} (a {kind}{source})"
    cause = err
    while cause.__cause__ is not None or cause.__context__ is not None:  # the innermost says why
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    return (
        f"onnx2keras converted {onnx_path.name} but Keras cannot load the result{where}: "
        f"{type(cause).__name__}: {first_line(cause)}"
    )


class _LastOperation(logging.Handler):
    """The operator onnx2keras was converting (its debug log says ``type: OP`` per node)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.op: str | None = None
        self.node: str | None = None
        self._logger = logging.getLogger("onnx2keras")

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg in ("type: %s", "node_name: %s") and record.args:
            value = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            if record.msg == "type: %s":
                self.op, self.node = value, None
            else:
                self.node = value

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


def _failure(
    onnx_path: Path, model: Any, err: BaseException, last: str | None = None, node: str | None = None
) -> str:
    """One line: the operator (and node) onnx2keras could not convert, when it can be told."""
    text = f"{type(err).__name__}: {err}"
    ops = {n.op_type for n in model.graph.node}
    match = _OP.search(text)
    op = match.group(1) if match and match.group(1) in ops else last
    if op is None:  # onnx2keras raises KeyError(op_type) for an operator it has no converter for
        op = next((o for o in ops if f"'{o}'" in text), None)
    if op is not None and op == last and node:  # the log names the node by its first output
        named = next((n.name for n in model.graph.node if n.output and n.output[0] == node), "")
        op = f"{op} (node '{named or node}')"
    where = f" at operator {op}" if op else ""
    return f"onnx2keras cannot convert {onnx_path.name}{where}: {type(err).__name__}: {first_line(err)}"
