"""run_job itself: the environment a worker starts in, and how its end is noticed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hepinfer.runner.launch import run_job

# A worker of the smallest kind: it writes what its interpreter was told about bytecode.
_PROBE = """
import json, sys
job = json.load(open(sys.argv[1]))
json.dump({"status": "ok", "dont_write": sys.flags.dont_write_bytecode,
           "prefix": sys.pycache_prefix}, open(job["result_path"], "w"))
"""

_SLEEPER = "import time\ntime.sleep(60)\n"


def _module(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    (tmp_path / f"{name}.py").write_text(text)
    return {"PYTHONPATH": str(tmp_path)}


def test_workers_get_a_bytecode_cache_where_writing_bytecode_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: every worker compiled hepinfer's modules from source again (~0.1 s a start).
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = _module(tmp_path, "probe_worker", _PROBE)
    result = run_job({}, tmp_path, "a", timeout_s=60, env=env, module="probe_worker")
    assert result["status"] == "ok", result
    from hepinfer.cache import cache_dir

    assert result["dont_write"] == 0
    assert Path(result["prefix"]) == cache_dir() / "pycache" / sys.implementation.cache_tag


def test_a_prefix_the_user_set_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "mine"))
    env = _module(tmp_path, "probe_worker", _PROBE)
    result = run_job({}, tmp_path, "a", timeout_s=60, env=env, module="probe_worker")
    assert result["dont_write"] == 1 and result["prefix"] == str(tmp_path / "mine")


def test_a_worker_past_its_timeout_is_killed_and_named(tmp_path: Path) -> None:
    env = _module(tmp_path, "sleeper_worker", _SLEEPER)
    (tmp_path / "w.result.phase").write_text("load")
    result = run_job({}, tmp_path, "w", timeout_s=1, env=env, module="sleeper_worker")
    assert result["status"] == "error"
    assert result["error"]["message"] == "timed out after 1 s during load"
    job = json.loads((tmp_path / "w.job.json").read_text())
    assert job["result_path"].endswith("w.result.json")
