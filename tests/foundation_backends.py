"""Backends that misbehave on purpose, to test that the runner and agreement catch them.

They wrap the real onnxruntime backend (no mock): each changes one thing.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, ClassVar

from hepinfer.backends.base import BackendOptions, Outputs, Prepared
from hepinfer.backends.onnxruntime import OnnxRuntimeBackend
from hepinfer.convert.artifact import ModelArtifact


class AbortInRun(OnnxRuntimeBackend):
    """Dies with SIGABRT on its first inference call, as a crashing native library would."""

    name: ClassVar[str] = "abort_in_run"

    def run(self, prepared: Prepared) -> Any:
        os.abort()


class HangInLoad(OnnxRuntimeBackend):
    """Never finishes loading."""

    name: ClassVar[str] = "hang_in_load"

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        while True:
            time.sleep(1)


class WrongOutputs(OnnxRuntimeBackend):
    """Returns the right outputs plus 1e-3: fast, and wrong."""

    name: ClassVar[str] = "wrong_outputs"

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        return {k: v + 1e-3 for k, v in super().fetch(prepared, raw).items()}


class NotShareable(OnnxRuntimeBackend):
    """ONNX Runtime declared unsafe to share: it raises if two threads ever call it at once.

    Each call holds the session for a few milliseconds, so two threads started together
    on one session would overlap.
    """

    name: ClassVar[str] = "not_shareable"
    shareable: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self._inside = 0
        self._lock = threading.Lock()

    def run(self, prepared: Prepared) -> Any:
        with self._lock:
            self._inside += 1
            inside = self._inside
        try:
            if inside > 1:
                raise RuntimeError("two threads called one session that is not shareable")
            time.sleep(0.005)
            return super().run(prepared)
        finally:
            with self._lock:
                self._inside -= 1
