"""The layers point one way (STYLE.md, "Which way imports point"), read off the source with ast.

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING``. Relative
imports are resolved against the importing module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hepinfer"

# The ML frameworks measure/ and results/ must not import (numpy is not one).
FRAMEWORKS = frozenset(
    {
        "torch",
        "tensorflow",
        "keras",
        "onnx",
        "onnxruntime",
        "openvino",
        "tritonclient",
        "mxnet",
        "tensorrt",
        "sofie",
        "jax",
    }
)


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def imports_of(path: Path) -> Iterator[str]:
    """Every module the hepinfer module at ``path`` imports."""
    name, is_package = _module_name(path)
    return imports_in(path.read_text(), name, is_package)


def imports_in(source: str, name: str, is_package: bool = False) -> Iterator[str]:
    """Every module the source of module ``name`` imports (``from a import b``: ``a``, ``a.b``)."""
    here = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module
            yield from (f"{module}.{a.name}" for a in node.names)


def modules() -> dict[str, list[str]]:
    """hepinfer's modules -> what each imports."""
    return {_module_name(p)[0]: list(imports_of(p)) for p in sorted(SRC.rglob("*.py"))}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> str:
    """The subpackage (or top-level module) of a hepinfer module: ``hepinfer.zoo.spec`` -> zoo."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hepinfer"


def violations(where: str, forbidden: set[str] | frozenset[str]) -> list[str]:
    """``module -> import`` for each import of a module under ``where`` of a forbidden root."""
    found = []
    for module, imported in modules().items():
        if not _in(module, where):
            continue
        for name in imported:
            if any(_in(name, f) for f in forbidden):
                found.append(f"{module} -> {name}")
    return sorted(set(found))


def test_the_import_reader_sees_every_kind_of_import() -> None:
    """The reader this file relies on: function-level, relative and TYPE_CHECKING imports."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import torch\n"
        "def f():\n    from onnx import helper\n    from . import stats\n    from ..zoo import spec\n"
    )
    seen = set(imports_in(source, "hepinfer.measure.probe"))
    assert {"torch", "onnx", "onnx.helper", "hepinfer.measure.stats", "hepinfer.zoo.spec"} <= seen
    assert set(imports_in("from .spec import ModelRef\n", "hepinfer.zoo", is_package=True)) == {
        "hepinfer.zoo.spec",
        "hepinfer.zoo.spec.ModelRef",
    }


@pytest.mark.parametrize("layer", ["measure", "results"])
def test_measure_and_results_import_no_framework(layer: str) -> None:
    assert violations(f"hepinfer.{layer}", FRAMEWORKS) == []


def test_report_imports_neither_backends_nor_runner() -> None:
    assert violations("hepinfer.report", {"hepinfer.backends", "hepinfer.runner"}) == []


def test_zoo_imports_no_backend() -> None:
    assert violations("hepinfer.zoo", {"hepinfer.backends"}) == []


def test_no_backend_imports_another() -> None:
    """A backend module may use base, the registry and private helpers (``_gpu``), no sibling."""
    backends = {
        m
        for m in modules()
        if _in(m, "hepinfer.backends")
        and m != "hepinfer.backends"
        and m.rsplit(".", 1)[-1] not in ("base", "registry")
        and not m.rsplit(".", 1)[-1].startswith("_")
    }
    assert len(backends) >= 8  # onnxruntime, pytorch, openvino, sofie, tensorflow, the GPU ones...
    found = []
    for module in sorted(backends):
        for name in modules()[module]:
            for other in backends - {module}:
                if _in(name, other):
                    found.append(f"{module} -> {name}")
    assert found == []


def package_graph() -> dict[str, set[str]]:
    """hepinfer's subpackages (and top-level modules) -> the others they import."""
    graph: dict[str, set[str]] = {}
    for module, imported in modules().items():
        src = _layer(module)
        for name in imported:
            if _in(name, "hepinfer") and name != "hepinfer":
                dst = _layer(name)
                if dst != src:
                    graph.setdefault(src, set()).add(dst)
        graph.setdefault(src, set())
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_one_and_only_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles_between_subpackages() -> None:
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between subpackages: " + " -> ".join(cycle or [])
