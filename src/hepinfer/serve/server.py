"""The bundled ``tritonserver`` (from the nvidia-pytriton wheel), started on a repository.

The server is found through ``--tritonserver PATH``, ``$HEPINFER_TRITONSERVER``, or a virtual
environment holding nvidia-pytriton (``$HEPINFER_TRITON_VENV``, else this interpreter's
environment with ``-triton`` appended: ``.venv-triton`` beside ``.venv``, as ``make triton``
creates it). Its Python backend runs ``model.py`` in a stub process that embeds the Python
found on PATH: this interpreter's ``bin`` goes first on PATH (so that the stub imports hepinfer
and the frameworks of this environment) and its libpython's directory on LD_LIBRARY_PATH
(the stub would otherwise link the system's libpython, a different 3.11 build).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hepinfer.errors import BackendUnavailable, ConfigurationError, HepinferError

INSTALL_HINT = (
    "install it with: python3.11 -m venv .venv-triton && "
    ".venv-triton/bin/pip install nvidia-pytriton==0.7.0 (or make triton), "
    "or point --tritonserver / $HEPINFER_TRITONSERVER at the binary"
)
_IN_WHEEL = "lib/python3*/site-packages/pytriton/tritonserver/bin/tritonserver"


def find_tritonserver(given: str | None = None) -> Path:
    """The tritonserver binary, or BackendUnavailable saying how to install it."""
    explicit = given or os.environ.get("HEPINFER_TRITONSERVER")
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():  # a venv, or the wheel's tritonserver folder
            found = sorted(path.glob(_IN_WHEEL)) or sorted(path.glob("bin/tritonserver"))
            path = found[0] if found else path / "bin" / "tritonserver"
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BackendUnavailable(f"no tritonserver binary at {path}; {INSTALL_HINT}")
        return path.resolve()
    venvs = [os.environ.get("HEPINFER_TRITON_VENV"), sys.prefix.rstrip("/") + "-triton"]
    for venv in filter(None, venvs):
        found = sorted(Path(venv).glob(_IN_WHEEL))
        if found:
            return found[-1].resolve()
    on_path = shutil.which("tritonserver")
    if on_path:
        return Path(on_path).resolve()
    raise BackendUnavailable(f"the Triton server (tritonserver) is not installed; {INSTALL_HINT}")


def unavailable_reason(given: str | None = None) -> str | None:
    """None when a tritonserver binary is found, else why not."""
    try:
        find_tritonserver(given)
    except HepinferError as err:
        return str(err)
    return None


def check_listen(address: str, allow_remote: bool) -> str:
    """The listen address, refusing a non-loopback one unless the user asked for it."""
    if address == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ConfigurationError(f"--listen {address}: expected an IP address such as 127.0.0.1") from None
    if not ip.is_loopback and not allow_remote:
        raise ConfigurationError(
            f"--listen {address} would expose the server beyond this machine; "
            "add --allow-remote if that is intended"
        )
    return address


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def backend_directory(binary: Path, workdir: Path) -> Path:
    """A backends folder for this interpreter: the wheel's Python backend with the stub for
    this Python version (the wheel ships one stub per version beside it)."""
    dist = binary.parent.parent
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = dist / "python_backend_stubs" / version / "triton_python_backend_stub"
    source = dist / "backends" / "python"
    target = workdir / "backends" / "python"
    target.mkdir(parents=True, exist_ok=True)
    if not stub.is_file():
        existing = source / "triton_python_backend_stub"
        if not existing.is_file():
            raise BackendUnavailable(f"the Triton Python backend has no stub for Python {version} ({stub})")
        stub = existing
    for item in (source / "libtriton_python.so", source / "triton_python_backend_utils.py", stub):
        tmp = target / (item.name + ".tmp")
        shutil.copy2(item, tmp)
        os.replace(tmp, target / item.name)  # a running server may still hold the old file
    return target.parent


def server_environment(binary: Path) -> dict[str, str]:
    """The server's environment: this interpreter first on PATH, its libpython and the
    wheel's bundled libraries findable (the copied stub loses its relative RPATH)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    wheel_libs = binary.parent.parent.parent.parent / "nvidia_pytriton.libs"
    libdir = sysconfig.get_config_var("LIBDIR")
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        filter(None, [libdir, str(wheel_libs) if wheel_libs.is_dir() else None, env.get("LD_LIBRARY_PATH")])
    )
    # The stub embeds Python: it must see the hepinfer and packages this process sees.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, sys.path))
    return env


@dataclass
class TritonServer:
    """A tritonserver process on a model repository; a context manager that stops it."""

    repository: Path
    workdir: Path
    binary: Path
    listen: str = "127.0.0.1"
    http_port: int = 0
    grpc_port: int = 0
    log_verbose: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.workdir / "tritonserver.log"

    def endpoints(self) -> dict[str, str]:
        """The URLs a client uses."""
        return {
            "grpc": f"grpc://{self.listen}:{self.grpc_port}",
            "http": f"http://{self.listen}:{self.http_port}",
        }

    def start(self, ready_timeout_s: float = 120.0) -> TritonServer:
        """Start the server and wait until it and all its models are ready."""
        self.http_port = self.http_port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        backends = backend_directory(self.binary, self.workdir)
        cmd = [
            str(self.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={backends}",
            f"--http-address={self.listen}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.listen}",
            f"--grpc-port={self.grpc_port}",
            "--allow-metrics=false",
            "--exit-on-error=true",
            "--strict-readiness=true",
            "--exit-timeout-secs=5",  # do not wait 30 s for idle keep-alive clients
            f"--log-verbose={self.log_verbose}",
        ]
        log = self.log_path.open("wb")
        # A new session: Ctrl-C in the terminal reaches us, and we stop the server with SIGTERM.
        self.process = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_environment(self.binary),
            start_new_session=True,
        )
        log.close()
        self._wait_ready(ready_timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        url = f"http://{self.listen_host}:{self.http_port}/v2/health/ready"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HepinferError(
                    f"tritonserver exited with status {self.process.returncode} before it was "
                    f"ready: {self.failure_line()} (log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(url, timeout=1.0) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise HepinferError(f"tritonserver was not ready after {timeout_s:.0f} s (log: {self.log_path})")

    @property
    def listen_host(self) -> str:
        """The host a local client reaches the server at."""
        return "127.0.0.1" if self.listen in ("0.0.0.0", "::") else self.listen

    def failure_line(self) -> str:
        """The most telling line of the server log (its first error)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        # CUDA complaints on a CPU machine are harmless; the first other error says what failed.
        errors = [
            ln for ln in lines if (ln.startswith("E") or "error" in ln.lower()) and "cuda" not in ln.lower()
        ]
        return (errors or lines or ["empty log"])[0].strip()

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (a background server ignores SIGINT), then SIGKILL if it does not exit."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # The server runs in a process group of its own: whatever it left there (Python-backend
        # stubs orphaned by a server that was killed) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def __enter__(self) -> TritonServer:
        return self if self.alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
