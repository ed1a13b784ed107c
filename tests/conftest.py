"""Shared fixtures: a private model cache, fast timing, the real models in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
TESTS = Path(__file__).resolve().parent

# Short timing for tests: behaviour is checked, never speed.
FAST_TIMING = {"max_time_s": 0.3, "min_calls": 5, "warmup_calls": 2, "warmup_s": 0.0}


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
