"""The ``hepinfer`` command: one module per subcommand, errors as one line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand -> module under hepinfer.cli with add_arguments(parser) and execute(args) -> int.
COMMANDS = {
    "env": "what this machine and each backend can do",
    "zoo": "the built-in models, their parameters and inputs",
    "bench": "measure a model on backends over batch sizes and threads",
    "validate": "each backend's answers vs the reference: agreement, reproducibility, physics",
    "sweep": "run a resumable grid of benchmarks from a YAML file, locally or on Dask",
    "report": "an HTML/Markdown/CSV report with plots from a results file",
    "compare": "compare two results files configuration by configuration",
    "memory": "memory against batch size and threads, against the theoretical minimum",
    "eventloop": "framework threads sharing sessions, jets per event (the HEP event loop)",
    "loadgen": "MLPerf LoadGen scenarios: SingleStream, Offline, Server",
    "data": "generate, describe and find physics event files (inputs from real events)",
    "serve": "serve a model with a Triton server (KServe v2 gRPC/HTTP) for the triton backend",
    "doctor": "what an ONNX export did wrong, the repair (--fix) and its proof",
    "tune": "search backends, options, threads and batch sizes in a budget; write deploy.json",
}


def parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (imports no framework)."""
    p = argparse.ArgumentParser(
        prog="hepinfer",
        description="How fast, how lean and how faithful a HEP model runs on each inference backend.",
        allow_abbrev=False,
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        # No prefix matching: ``validate --batch 1`` must not silently mean another option.
        sp = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        importlib.import_module(f"hepinfer.cli.{name}").add_arguments(sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; a HepinferError becomes one line on stderr and exit status 1."""
    from hepinfer.errors import HepinferError

    args = parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        code: int = importlib.import_module(f"hepinfer.cli.{args.command}").execute(args)
        return code
    except HepinferError as err:
        if debug:
            raise
        print(f"hepinfer: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hepinfer: interrupted; records already written are complete", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of a pipe stopped early (``hepinfer zoo --json | head``): not an error of
        # ours. Point stdout at devnull so that the interpreter's final flush stays quiet.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
