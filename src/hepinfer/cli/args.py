"""Parsing of the list and key=value arguments the commands share, with one-line errors."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hepinfer.errors import ConfigurationError


def int_list(text: str, flag: str) -> list[int]:
    """``1,16,256`` -> [1, 16, 256]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigurationError(
            f"{flag} {text}: expected comma-separated integers such as 1,16,256"
        ) from None
    if not values:
        raise ConfigurationError(f"{flag}: give at least one value")
    return values


def pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    """``["n_pf=100", "n_sv=10"]`` -> {"n_pf": "100", "n_sv": "10"}."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigurationError(f"{flag} {item}: expected NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def dims(items: Sequence[str] | None) -> dict[str, int]:
    """``--dim n_pf=100`` values as integers."""
    out = {}
    for name, value in pairs(items, "--dim").items():
        try:
            out[name] = int(value)
        except ValueError:
            raise ConfigurationError(f"--dim {name}={value}: the size must be an integer") from None
    return out


def options(items: Sequence[str] | None) -> dict[str, dict[str, list[str]]]:
    """``--option onnxruntime.iobinding=false,true`` -> {"onnxruntime": {"iobinding": [...]}}."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, value in pairs(items, "--option").items():
        backend, dot, key = name.partition(".")
        if not dot or not key:
            raise ConfigurationError(f"--option {name}={value}: expected BACKEND.KEY=V1[,V2...]")
        out.setdefault(backend, {})[key] = [v for v in value.split(",") if v]
    return out


EXPORTERS = ("dynamo", "legacy", "tf2onnx", "twin")


def add_model_arguments(p: argparse.ArgumentParser, option_help: str) -> None:
    """``--dim``, ``--param``, ``--option`` and ``--exporter``: every command that runs a model."""
    p.add_argument("--dim", action="append", metavar="NAME=N", help="size of a dynamic axis, e.g. n_pf=100")
    p.add_argument("--param", action="append", metavar="NAME=V", help="zoo model option, e.g. R=39")
    p.add_argument("--option", action="append", metavar="BACKEND.KEY=V", help=option_help)
    p.add_argument(
        "--exporter",
        choices=EXPORTERS,
        default="dynamo",
        help="how a zoo model becomes ONNX: the torch exporters, or tf2onnx from its Keras twin; "
        "twin: a model file's ONNX twin given with --like (default: %(default)s)",
    )


def add_repeat_argument(p: argparse.ArgumentParser) -> None:
    """``--repeat K``: worker processes per configuration (what ``compare`` tests on)."""
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="run each configuration in K separate worker processes, each its own record "
        "(a shared repeat group); 'hepinfer compare' tests on the per-process medians and "
        "needs K >= 2 on both sides, 3 or more to tell modest changes (default: %(default)s)",
    )


def print_json_lines(records: Sequence[object]) -> None:
    """``--json`` of the commands that make records: one record per line on stdout, as in the
    results file (a pipe into ``jq`` or ``pandas.read_json(lines=True)`` reads them)."""
    import json

    for record in records:
        print(json.dumps(record, default=str))
