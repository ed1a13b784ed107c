"""Shared fixtures: a private model cache, fast timing, the real models in ../shared."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
TESTS = Path(__file__).resolve().parent

# Short timing for tests: behaviour is checked, never speed.
FAST_TIMING = {"max_time_s": 0.3, "min_calls": 5, "warmup_calls": 2, "warmup_s": 0.0}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that takes the real models is a ``shared`` test (``-m "not shared"`` leaves it out)."""
    for item in items:
        if "shared_models" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("shared"):
            item.add_marker(pytest.mark.shared)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exports go to a cache of this test session, never the user's."""
    os.environ["HEPINFER_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def shared_models() -> Path:
    """../shared/models beside the repository, or a skip saying it is absent."""
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"the real models are not here ({SHARED_MODELS} is absent)")
    return SHARED_MODELS


@pytest.fixture
def test_backends(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make tests/ importable in worker processes, for the test backends defined there."""
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    )
    return "foundation_backends"


def zoo_artifact(name: str, exporter: str = "dynamo") -> Any:
    """A zoo model as a backend receives it (exports lazily, into the session's cache)."""
    from hepinfer.convert.artifact import ModelArtifact
    from hepinfer.zoo import model_ref, spec_of

    ref = model_ref(name)
    return ModelArtifact(ref=ref, spec=spec_of(ref), exporter=exporter)


def run_once(backend: Any, artifact: Any, options: Any, inputs: Any) -> dict[str, Any]:
    """Load, prepare and call a backend once in this process; its outputs by name."""
    backend.load(artifact, options)
    prepared = backend.prepare(inputs)
    outputs: dict[str, Any] = backend.fetch(prepared, backend.run(prepared))
    return outputs


def ort_outputs(artifact: Any, inputs: Any) -> dict[str, Any]:
    """ONNX Runtime's outputs at default settings: what other backends are checked against."""
    from hepinfer.backends.onnxruntime import OnnxRuntimeBackend, OnnxRuntimeOptions

    return run_once(OnnxRuntimeBackend(), artifact, OnnxRuntimeOptions(), inputs)
