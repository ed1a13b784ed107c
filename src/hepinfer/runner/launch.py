"""Start a worker process for one job and turn whatever happens to it into a result."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

_SIGNAL_HINTS = {
    signal.SIGKILL: "killed (out of memory, or by a user)",
    signal.SIGSEGV: "crashed with a segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "crashed with a bus error",
    signal.SIGILL: "crashed on an illegal instruction (an ISA the CPU lacks?)",
}


def run_job(
    job: dict[str, Any],
    workdir: Path,
    name: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
    module: str = "hepinfer.runner.worker",
    python: str | None = None,
) -> dict[str, Any]:
    """Run one job in a fresh interpreter (``python -m module JOB.json``). Never raises for
    what happens inside the worker.

    ``env`` adds variables to the worker's environment (ISA caps such as ATEN_CPU_CAPABILITY
    must be set before the framework loads). ``python`` runs the worker under another
    interpreter (a backend whose framework needs a venv of its own, such as one that pins an
    old numpy); this hepinfer's source is put on its path, so the worker runs the same code.

    Returns the worker's result, or an error result naming the signal, the timeout and the
    phase it died in, with the tail of its output.
    """
    job = dict(job)
    job["parent_pid"] = os.getpid()  # the worker ends itself when this process dies
    if python is None or python == sys.executable:
        # Host, OS, CPU and versions are this interpreter's on this machine: found once here,
        # not by every worker (a worker under another interpreter finds its own).
        known = _machine_environment((job.get("key") or {}).get("backend"))
        if known is not None:
            job.setdefault("environment", known)
    job["result_path"] = str(workdir / f"{name}.result.json")
    job["outputs_path"] = str(workdir / f"{name}.npz")
    job_path = workdir / f"{name}.job.json"
    log_path = workdir / f"{name}.log"
    job_path.write_text(json.dumps(job))
    result_path = Path(job["result_path"])
    child_env = {**os.environ, **(env or {})}
    _bytecode_cache(child_env, python)
    if python is not None and python != sys.executable:
        source = str(Path(__file__).resolve().parents[2])  # the directory holding hepinfer/
        child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, child_env.get("PYTHONPATH")]))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", module, str(job_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a timeout kills all it started
            env=child_env,
        )
        # A blocking wait, and a timer that kills at the timeout: Popen.wait(timeout=) polls
        # with sleeps of up to 50 ms, which every configuration would pay after its worker ends.
        timed_out = threading.Event()

        def expire() -> None:
            if proc.poll() is None:  # not reaped yet: its pid is still its process group's
                timed_out.set()
                _kill_group(proc)

        timer = threading.Timer(timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            rc = proc.wait()
        except BaseException:  # Ctrl-C in the parent: take the worker down with us
            _kill_group(proc)
            raise
        finally:
            timer.cancel()
        if timed_out.is_set():
            return _died(f"timed out after {timeout_s:g} s", workdir, name, log_path)
    if result_path.exists():
        result: dict[str, Any] = json.loads(result_path.read_text())
        return result
    if rc < 0:
        sig = signal.Signals(-rc)
        what = _SIGNAL_HINTS.get(sig, "died")
        return _died(f"worker {what} ({sig.name})", workdir, name, log_path)
    return _died(f"worker exited with status {rc} without a result", workdir, name, log_path)


def _bytecode_cache(child_env: dict[str, str], python: str | None) -> None:
    """Where ``PYTHONDONTWRITEBYTECODE`` is set (as on these machines), every worker would
    compile hepinfer's modules from source again (~0.1 s each start): give workers under this
    interpreter a bytecode cache in hepinfer's cache instead (``PYTHONPYCACHEPREFIX``),
    written once, nothing written beside the sources. A prefix the user set is kept."""
    if not child_env.get("PYTHONDONTWRITEBYTECODE") or child_env.get("PYTHONPYCACHEPREFIX"):
        return
    if python is not None and python != sys.executable:
        return  # another interpreter: its own bytecode, its own choice
    from hepinfer.cache import cache_dir

    child_env.pop("PYTHONDONTWRITEBYTECODE")
    child_env["PYTHONPYCACHEPREFIX"] = str(cache_dir() / "pycache" / sys.implementation.cache_tag)


@functools.cache
def _machine_environment(backend: str | None) -> dict[str, Any] | None:
    """``measure.environment.machine_environment`` for a backend's packages, once per run."""
    if not backend:
        return None
    from hepinfer.backends.registry import backend_class
    from hepinfer.measure.environment import machine_environment

    try:
        packages = backend_class(backend).packages
    except Exception:  # the worker says what is wrong with the backend; it finds its own
        return None
    return machine_environment(packages)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _died(what: str, workdir: Path, name: str, log_path: Path) -> dict[str, Any]:
    phase_path = workdir / f"{name}.result.phase"
    phase = phase_path.read_text() if phase_path.exists() else "start"
    tail = log_path.read_text(errors="replace").strip().splitlines()[-20:] if log_path.exists() else []
    return {
        "status": "error",
        "error": {
            "type": "WorkerDied",
            "message": f"{what} during {phase}",
            "phase": phase,
            "traceback": "\n".join(tail),
        },
    }
