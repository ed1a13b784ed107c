"""One place for optional imports, so that a missing package names its install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from hepinfer.errors import BackendUnavailable

# The extra that installs each optional package, for the error message.
EXTRAS: dict[str, str] = {
    "onnx2torch": "onnx2torch",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise BackendUnavailable naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = EXTRAS.get(module.split(".")[0])
        fix = f"pip install 'hepinfer[{extra}]'" if extra else f"pip install {module}"
        raise BackendUnavailable(
            f"{purpose} needs {module}, which cannot be imported ({err}); install it with: {fix}"
        ) from err
