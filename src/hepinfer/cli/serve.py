"""``hepinfer serve MODEL_OR_PATH`` / ``hepinfer serve --repository DIR``: serve a model, or a
Triton model repository as CMS ships it, with the bundled Triton server (SONIC)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from hepinfer.cli import args as parse
from hepinfer.errors import ConfigurationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the serve command."""
    p.add_argument(
        "model", nargs="?", metavar="MODEL_OR_PATH", help="a zoo name (see 'hepinfer zoo') or an .onnx file"
    )
    p.add_argument(
        "--repository",
        metavar="DIR",
        help="serve a Triton model repository (NAME/config.pbtxt + NAME/1/model.onnx or model.pt) "
        "instead, each model with its own config",
    )
    p.add_argument(
        "--backend", default="onnxruntime", help="hepinfer backend run by the server (default: %(default)s)"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="backend threads per instance (default: %(default)s)"
    )
    parse.add_model_arguments(p, "backend option of the served backend, e.g. onnxruntime.iobinding=true")
    p.add_argument("--name", help="the model's name on the server (default: the zoo name or file stem)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=64,
        help="largest batch Triton accepts/forms; 0: whole tensors as given (default: %(default)s)",
    )
    p.add_argument("--dynamic-batching", action="store_true", help="let Triton merge concurrent requests")
    p.add_argument(
        "--max-queue-delay-us",
        type=int,
        default=100,
        help="how long the dynamic batcher waits for more requests, us (default: %(default)s)",
    )
    p.add_argument(
        "--instances", type=int, default=1, help="model instances (processes) (default: %(default)s)"
    )
    p.add_argument("--http-port", type=int, default=8000, help="0: any free port (default: %(default)s)")
    p.add_argument("--grpc-port", type=int, default=8001, help="0: any free port (default: %(default)s)")
    p.add_argument("--listen", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --listen address beyond this machine")
    p.add_argument(
        "--tritonserver", metavar="PATH", help="the tritonserver binary (or $HEPINFER_TRITONSERVER)"
    )
    p.add_argument(
        "--workdir", metavar="DIR", help="where the repository and log go (default: a temporary folder)"
    )
    p.add_argument(
        "--write-only",
        action="store_true",
        help="write the model repository to --workdir and exit without starting the server",
    )


def _options(ns: argparse.Namespace) -> dict[str, str]:
    options: dict[str, str] = {}
    for backend, values in parse.options(ns.option).items():
        if backend != ns.backend:
            raise ConfigurationError(f"--option {backend}.*: the served backend is {ns.backend}")
        for key, vals in values.items():
            if len(vals) != 1:
                raise ConfigurationError(f"--option {backend}.{key}: serve takes one value")
            options[key] = vals[0]
    return options


# Options that a repository's config.pbtxt sets for each of its models.
_FROM_CONFIG = (
    ("name", None, "--name"),
    ("max_batch", 64, "--max-batch"),
    ("dynamic_batching", False, "--dynamic-batching"),
    ("max_queue_delay_us", 100, "--max-queue-delay-us"),
    ("instances", 1, "--instances"),
    ("param", None, "--param"),
)


def served_models(ns: argparse.Namespace) -> list[object]:
    """The ServedModels the arguments describe (exports a zoo model now, not in the server);
    with --repository, the repository's models, printing one line for what is not served."""
    from hepinfer.serve.repository import read_repository

    if (ns.model is None) == (ns.repository is None):
        raise ConfigurationError("give a model (MODEL_OR_PATH) or --repository DIR, not both or neither")
    if ns.model is not None:
        return [served_model(ns)]
    for attr, default, flag in _FROM_CONFIG:
        if getattr(ns, attr) != default:
            raise ConfigurationError(
                f"{flag}: with --repository each model's config.pbtxt sets it; leave it out"
            )
    models, lines = read_repository(Path(ns.repository), ns.backend, _options(ns), ns.threads)
    for line in lines:
        print(f"hepinfer: {line}", file=sys.stderr)
    return list(models)


def served_model(ns: argparse.Namespace) -> object:
    """The ServedModel of MODEL_OR_PATH (exports a zoo model now, not in the server)."""
    from hepinfer.serve.repository import prepare

    return prepare(
        ns.model,
        backend=ns.backend,
        options=_options(ns),
        threads=ns.threads,
        params=parse.pairs(ns.param, "--param"),
        exporter=ns.exporter,
        name=ns.name or "",
        max_batch=ns.max_batch,
        dynamic_batching=ns.dynamic_batching,
        max_queue_delay_us=ns.max_queue_delay_us,
        instances=ns.instances,
    )


def execute(ns: argparse.Namespace) -> int:
    """Write the repository, start the server, print the endpoints, wait for a signal."""
    from hepinfer.serve.repository import ServedModel, write_repository
    from hepinfer.serve.server import TritonServer, check_listen, find_tritonserver

    listen = check_listen(ns.listen, ns.allow_remote)
    models = served_models(ns)
    assert all(isinstance(m, ServedModel) for m in models)
    if ns.write_only and not ns.workdir:
        raise ConfigurationError("--write-only needs --workdir DIR to write the repository to")
    binary = None if ns.write_only else find_tritonserver(ns.tritonserver)
    tmp = None if ns.workdir else tempfile.TemporaryDirectory(prefix="hepinfer-serve-")
    workdir = Path(ns.workdir) if ns.workdir else Path(tmp.name)  # type: ignore[union-attr]
    try:
        repo = write_repository(workdir / "repository", models)  # type: ignore[arg-type]
        print(f"model repository: {repo}", file=sys.stderr)
        if binary is None:
            return 0
        server = TritonServer(
            repo, workdir, binary, listen=listen, http_port=ns.http_port, grpc_port=ns.grpc_port
        )
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.start()
            ends = server.endpoints()
            print(f"serving with Triton {binary}")
            print(f"  grpc: {ends['grpc']}\n  http: {ends['http']}")
            for model in models:
                assert isinstance(model, ServedModel)
                where = ns.model if model.source is None else str(model.source.folder)
                print(
                    f"  {model.served_name} ({model.backend}): hepinfer bench {where} --backend triton "
                    f"--option triton.server={ends['grpc']} --option triton.model={model.served_name}"
                )
            print("stop with Ctrl-C or SIGTERM", flush=True)
            while not stop.wait(0.5):
                if not server.alive():
                    print(f"hepinfer: error: tritonserver exited: {server.failure_line()}", file=sys.stderr)
                    return 1
        finally:
            code = server.stop()
            for s, handler in old.items():
                signal.signal(s, handler)
        print(f"tritonserver stopped (exit status {code})", file=sys.stderr)
        return 0
    finally:
        if tmp is not None:
            tmp.cleanup()
