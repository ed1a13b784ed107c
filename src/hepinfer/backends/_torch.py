"""What the PyTorch backends (CPU and CUDA) share: the formats they take, ONNX via onnx2torch,
thread safety and the inference scope.

A private helper below both backend modules, so that neither imports the other. torch itself
is imported by each backend's ``load`` (which sets ``self._torch``), never here.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from hepinfer._optional import require
from hepinfer.backends.base import Backend, ModelArtifact
from hepinfer.errors import BackendUnavailable


class TorchModuleBackend(Backend):
    """A backend that runs a torch.nn.Module: the zoo's own, or an ONNX file via onnx2torch."""

    formats: ClassVar[frozenset[str]] = frozenset({"torch", "onnx"})
    packages: ClassVar[tuple[str, ...]] = ("torch",)
    # An eval-mode module called under inference_mode has no mutable state: safe to share
    # (eager and frozen TorchScript alike). Inference mode is thread-local: each thread
    # enters inference_scope() itself.
    shareable: ClassVar[bool] = True
    _torch: Any

    def _from_onnx(self, model: ModelArtifact) -> Any:
        try:
            onnx2torch = require("onnx2torch", "running an ONNX file on PyTorch")
        except BackendUnavailable as err:
            raise BackendUnavailable(
                f"pytorch cannot run ONNX files here: onnx2torch cannot be imported ({err.__cause__}); "
                "it needs torchvision, which has no CPU build for torch 2.13.0 on this registry. "
                "Where torchvision works: pip install 'hepinfer[onnx2torch]'"
            ) from err
        return onnx2torch.convert(str(model.onnx_path()))

    def inference_scope(self) -> contextlib.AbstractContextManager[None]:
        """torch.inference_mode, entered once around the calls rather than in each one."""
        scope: contextlib.AbstractContextManager[None] = self._torch.inference_mode()
        return scope
