"""One place for optional imports: a missing package names the one command that installs it.

The extras table is not written here: it is read from hepinfer's own package metadata
(``[project.optional-dependencies]`` of pyproject.toml), so that the command a message names is
the extra that really installs the package. What is kept here is only what the metadata cannot
say: the import names whose distribution is named otherwise (``yaml`` comes from PyYAML).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from hepinfer.errors import MissingDependency, first_line

# Import name -> the distribution an extra lists for it, where the two differ. Every other
# import name is its distribution's name (``tf2onnx``, ``openvino``; ``_`` reads as ``-``).
DISTRIBUTIONS: dict[str, str] = {
    "yaml": "pyyaml",
    "tensorflow": "tensorflow-cpu",
    "mlperf_loadgen": "mlcommons-loadgen",
    "skhep_testdata": "scikit-hep-testdata",
    "distributed": "dask",  # listed as dask[distributed]
    "grpc": "tritonclient",  # tritonclient[grpc]
    "geventhttpclient": "tritonclient",  # tritonclient[http]
    "pynvml": "nvidia-ml-py",
}

# Extras that only gather others: a package is named by the smallest extra that lists it.
_AGGREGATES = frozenset({"all"})
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalize(name: str) -> str:
    """A distribution name as the registry compares it (PEP 503): ``PyYAML`` -> ``pyyaml``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _source_tree_requirements() -> list[tuple[str, str | None]] | None:
    """(distribution, extra) from the pyproject.toml of the source tree this module is in."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.is_file():
        return None
    import tomllib

    project = tomllib.loads(pyproject.read_text()).get("project", {})
    if project.get("name") != "hepinfer":
        return None
    pairs: list[tuple[str, str | None]] = [(r, None) for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        pairs += [(r, extra) for r in reqs]
    return pairs


def _metadata_requirements() -> list[tuple[str, str | None]]:
    """(distribution, extra) from the installed distribution's Requires-Dist."""
    # Imported here, when a message needs it: importlib.metadata is 65 modules and ~4 MB of
    # RSS, which every measured worker (its backend imports this module) would otherwise hold.
    from importlib import metadata

    try:
        lines = metadata.requires("hepinfer") or []
    except metadata.PackageNotFoundError:
        return []
    pairs: list[tuple[str, str | None]] = []
    for line in lines:
        requirement, _, marker = line.partition(";")
        found = _EXTRA_MARKER.search(marker)
        pairs.append((requirement, found.group(1) if found else None))
    return pairs


@functools.cache
def extras() -> dict[str, str | None]:
    """Distribution (normalised name) -> the extra of hepinfer that installs it; None: the core.

    A source tree's pyproject.toml comes first: it is never older than the metadata of an
    editable install, and the metadata found on the path may be another checkout's. An
    installed wheel has no pyproject.toml beside it and reads its own metadata.
    """
    pairs = _source_tree_requirements() or _metadata_requirements()
    table: dict[str, str | None] = {}
    for requirement, extra in pairs:
        match = _NAME.match(requirement)
        if match is None or extra in _AGGREGATES:
            continue
        name = normalize(match.group(1))
        if name == "hepinfer":  # an extra that includes another: hepinfer[torch]
            continue
        if name not in table or (table[name] is not None and extra is None):
            table[name] = extra  # the first extra listing it; the core wins over any extra
    return table


def distribution(module: str) -> str:
    """The distribution that provides the import name ``module`` (its top-level package)."""
    top = module.split(".")[0]
    return DISTRIBUTIONS.get(top, normalize(top))


def install_command(module: str) -> str:
    """The exact command that installs ``module``: ``pip install 'hepinfer[sweep]'``."""
    dist = distribution(module)
    table = extras()
    if dist not in table:
        return f"pip install {dist}"
    extra = table[dist]
    return f"pip install 'hepinfer[{extra}]'" if extra else "pip install hepinfer"


def _what(module: str) -> str:
    top = module.split(".")[0]
    dist = distribution(module)
    return module if normalize(top) == dist else f"{module} (from {dist})"


def missing(module: str, purpose: str | None = None) -> str | None:
    """None when ``module`` can be found, else one line naming it and its install command.

    Finds without importing (``hepinfer env`` stays fast); ``require`` imports.
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or blocked
        found = False
    if found:
        return None
    needs = f"{purpose} needs " if purpose else ""
    return f"{needs}{_what(module)}, which is not installed; install it with: {install_command(module)}"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise MissingDependency, one line naming the install command.

    ``purpose`` says what needs it ("hepinfer sweep", "the openvino backend"); the command is
    derived from the extras table, never written by the caller.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        parts = module.split(".")
        absent = err.name is not None and err.name in {".".join(parts[: i + 1]) for i in range(len(parts))}
        if absent or (err.name is None and isinstance(err, ModuleNotFoundError)):
            message = f"{purpose} needs {_what(module)}, which is not installed"
        else:  # installed, but it (or a library it loads) fails to import
            message = f"{purpose} needs {_what(module)}, which cannot be imported ({first_line(err)})"
        raise MissingDependency(f"{message}; install it with: {install_command(module)}") from err
