"""What the PyTorch backends (CPU and CUDA) share: the formats they take, ONNX via onnx2torch,
thread safety and the inference scope.

A private helper below both backend modules, so that neither imports the other. torch itself
is imported by each backend's ``load`` (which sets ``self._torch``), never here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar

from hepinfer._optional import require
from hepinfer.backends.base import Backend, ModelArtifact
from hepinfer.errors import BackendUnavailable


class TorchModuleBackend(Backend):
    """A backend that runs a torch.nn.Module: the zoo's own, or an ONNX file via onnx2torch."""

    formats: ClassVar[frozenset[str]] = frozenset({"torch", "torchscript", "onnx"})
    packages: ClassVar[tuple[str, ...]] = ("torch",)
    # An eval-mode module called under inference_mode has no mutable state: safe to share
    # (eager and frozen TorchScript alike). Inference mode is thread-local: each thread
    # enters inference_scope() itself.
    shareable: ClassVar[bool] = True
    _torch: Any

    @classmethod
    def prebuild(cls, model: ModelArtifact, options: Any, input_shapes: Any) -> Any:
        """Parent side, for a foreign ONNX file: onnx2torch in its venv (``convert.onnx_torch``)."""
        from hepinfer.convert.onnx_torch import onnx_to_torch

        done = onnx_to_torch(model.onnx_path())
        model.conversions["onnx_to_torch"] = done.to_dict()
        return done

    @classmethod
    def interpreter(cls, model: ModelArtifact) -> str | None:
        """The onnx2torch venv's Python for a module it converted (the worker loads it there)."""
        entry = model.conversions.get("onnx_to_torch")
        return str(entry["python"]) if entry else None

    def _module(self, model: ModelArtifact) -> Any:
        """The module to run: the zoo's, a TorchScript archive, or onnx2torch's conversion."""
        if "torch" in model.formats:
            return model.torch_module()
        if "torchscript" in model.formats:
            from hepinfer.zoo.native_file import load_torchscript

            return load_torchscript(Path(model.ref.name))
        converted = model.converted("onnx_to_torch")
        if converted is not None:
            # A torch.fx module this tool saved in the parent (never a user's pickle).
            return self._torch.load(str(converted), weights_only=False)
        return self._from_onnx(model)

    def _from_onnx(self, model: ModelArtifact) -> Any:
        try:
            onnx2torch = require("onnx2torch", "running an ONNX file on PyTorch")
        except BackendUnavailable as err:
            raise BackendUnavailable(
                f"pytorch cannot run ONNX files in this interpreter: onnx2torch cannot be imported "
                f"({err.__cause__}); it needs torchvision, which has no build beside torch 2.13.0+cpu. "
                "Create its venv with 'make onnx2torch' (hepinfer converts and runs there)"
            ) from err
        return onnx2torch.convert(str(model.onnx_path()))

    def inference_scope(self) -> contextlib.AbstractContextManager[None]:
        """torch.inference_mode, entered once around the calls rather than in each one."""
        scope: contextlib.AbstractContextManager[None] = self._torch.inference_mode()
        return scope
