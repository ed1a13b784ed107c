"""Optional imports: each extra's packages, when missing, give one line naming its install command."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import tomllib
from pathlib import Path

import pytest

from hepinfer import _optional
from hepinfer.cli.main import main
from hepinfer.errors import MissingDependency

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Extras that gather others, and the tools of a developer (no import of hepinfer needs them).
GATHERING = {"all", "dev"}
IMPORT_NAMES = {dist: module for module, dist in _optional.DISTRIBUTIONS.items()}


def _own_requirements(extra: str) -> list[str]:
    """The distributions an extra lists itself (not through hepinfer[other])."""
    names = [
        _optional.normalize(_optional._NAME.match(r).group(1))
        for r in PROJECT["optional-dependencies"][extra]
    ]  # type: ignore[union-attr]
    return [n for n in names if n != "hepinfer"]


def _import_name(dist: str) -> str:
    return IMPORT_NAMES.get(dist, dist.replace("-", "_"))


EXTRAS = [e for e in PROJECT["optional-dependencies"] if e not in GATHERING]


def test_the_table_is_pyprojects() -> None:
    # Every distribution of every extra maps to that extra; the core's to a plain install.
    table = _optional.extras()
    for extra in EXTRAS:
        for dist in _own_requirements(extra):
            assert table[dist] == extra, dist
            assert _optional.install_command(_import_name(dist)) == f"pip install 'hepinfer[{extra}]'"
    for requirement in PROJECT["dependencies"]:
        dist = _optional.normalize(_optional._NAME.match(requirement).group(1))  # type: ignore[union-attr]
        assert table[dist] is None and _optional.install_command(_import_name(dist)) == "pip install hepinfer"


def test_installed_metadata_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # What an installed wheel reads: Requires-Dist lines with their extra markers.
    lines = [
        "onnx>=1.17",
        'torch>=2.4; extra == "torch"',
        "hepinfer[torch]; extra == 'onnx2torch'",
        'onnx2torch; extra == "onnx2torch"',
        'PyYAML>=6; extra == "sweep"',
        'hepinfer[torch,sweep]; extra == "all"',
    ]
    monkeypatch.setattr(importlib.metadata, "requires", lambda name: lines)
    monkeypatch.setattr(_optional, "_source_tree_requirements", lambda: None)
    _optional.extras.cache_clear()
    try:
        assert _optional.extras() == {
            "onnx": None,
            "torch": "torch",
            "onnx2torch": "onnx2torch",
            "pyyaml": "sweep",
        }
        assert _optional.install_command("yaml") == "pip install 'hepinfer[sweep]'"
    finally:
        _optional.extras.cache_clear()


@pytest.mark.parametrize("extra", EXTRAS)
def test_each_extra_missing_is_one_line_naming_it(extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for dist in _own_requirements(extra):
        module = _import_name(dist)
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
        with pytest.raises(MissingDependency) as err:
            _optional.require(module, "this")
        message = str(err.value)
        assert "\n" not in message and message.count("pip install") == 1
        assert message.startswith(f"this needs {module}") and message.endswith(
            f"which is not installed; install it with: pip install 'hepinfer[{extra}]'"
        )
        reason = _optional.missing(module)
        assert reason is not None and reason.endswith(f"pip install 'hepinfer[{extra}]'")


def test_a_package_that_fails_inside_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Installed, but something it imports is missing: "cannot be imported", with the cause.
    (tmp_path / "hepinfer_probe_pkg.py").write_text("import hepinfer_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependency) as err:
        _optional.require("hepinfer_probe_pkg", "x")
    assert str(err.value) == (
        "x needs hepinfer_probe_pkg, which cannot be imported (No module "
        "named 'hepinfer_absent_dependency'); install it with: pip install hepinfer-probe-pkg"
    )


# --- the commands a user types, with the package gone ------------------------------------------


def _one_line(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("module", ["yaml", "jsonschema"])
def test_sweep_without_its_extra(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "s.yaml"
    config.write_text("name: s\nmodels: [linear_event]\nbackends: [onnxruntime]\n")
    monkeypatch.setitem(sys.modules, module, None)
    err = _one_line(capsys, main(["sweep", str(config), "--out", str(tmp_path / "o.jsonl")]))
    assert err.endswith("pip install 'hepinfer[sweep]'")


@pytest.mark.parametrize("module", ["matplotlib", "matplotlib.pyplot", "mplhep"])
def test_report_plots_without_their_extra(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = ROOT / "tests" / "data" / "sweep-results.jsonl"
    monkeypatch.setitem(sys.modules, module, None)
    err = _one_line(capsys, main(["report", str(results), "--plots", str(tmp_path / "plots")]))
    assert err.endswith("pip install 'hepinfer[report]'")


def test_compare_without_scipy(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    results = str(ROOT / "tests" / "data" / "sweep-results.jsonl")
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    err = _one_line(capsys, main(["compare", results, results]))
    assert err.endswith("pip install 'hepinfer[stats]'")


def test_openvino_names_one_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from hepinfer.backends.openvino import OpenVinoBackend

    monkeypatch.setitem(sys.modules, "openvino", None)
    reason = OpenVinoBackend.unavailable_reason()
    assert reason == "openvino, which is not installed; install it with: pip install 'hepinfer[openvino]'"
    with pytest.raises(MissingDependency) as err:
        OpenVinoBackend().load(None, None)  # type: ignore[arg-type]
    assert str(err.value).count("pip install") == 1


def test_zoo_and_env_without_torch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["zoo"]) == 0
    captured = capsys.readouterr()
    assert "linear_event" in captured.out
    (note,) = captured.err.strip().splitlines()  # one line says why the counts are missing
    assert note.endswith("pip install 'hepinfer[torch]'") and "torch" in note
    assert main(["env", "--json"]) == 0
    backends = json.loads(capsys.readouterr().out)["backends"]
    assert backends["pytorch"]["status"] == "unavailable"
    assert backends["pytorch"]["reason"].endswith("pip install 'hepinfer[torch]'")
    assert backends["onnxruntime"]["status"] == "available"
    with pytest.raises(MissingDependency, match=r"hepinfer\[torch\]'$"):
        from hepinfer.zoo import entry

        entry("linear_event").build({})
