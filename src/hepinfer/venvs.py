"""Virtual environments beside the main one, for frameworks that cannot share it.

``make onnx2torch`` and ``make mxnet`` create ``.venv-onnx2torch`` and ``.venv-mxnet`` beside
``.venv`` (as ``make triton`` creates ``.venv-triton``): onnx2torch needs torchvision, which has
no build beside the main venv's torch; MXNet 1.9.1 needs numpy < 1.24. hepinfer runs the
workers (and converters) of those backends under the side venv's interpreter, with its own
source on PYTHONPATH. ``$HEPINFER_<NAME>_VENV`` points elsewhere. Stdlib only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def side_python(name: str) -> Path | None:
    """The interpreter of the side venv ``name`` ("onnx2torch", "mxnet"), or None if absent."""
    env = os.environ.get(f"HEPINFER_{name.upper()}_VENV")
    candidates = [env] if env else []
    candidates.append(sys.prefix.rstrip("/") + f"-{name}")
    for prefix in candidates:
        if prefix and (Path(prefix) / "bin" / "python").exists():
            return Path(prefix) / "bin" / "python"
    return None


def missing(name: str) -> str:
    """What to do when the side venv is absent (one line)."""
    where = sys.prefix.rstrip("/") + f"-{name}"
    return (
        f"the {name} venv is missing ({where}); create it with 'make {name}' "
        f"or point $HEPINFER_{name.upper()}_VENV at one"
    )


def running_in(name: str) -> bool:
    """Whether this interpreter is the side venv ``name``'s (a worker started under it)."""
    found = side_python(name)
    return found is not None and Path(sys.prefix).resolve() == found.parent.parent.resolve()
