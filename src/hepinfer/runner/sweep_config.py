"""Checking a sweep configuration: every mistake of the file at once, each at its key's line.

The YAML is read twice: as data, and as the node tree that knows where each key stands
(``yaml.compose``: ``start_mark.line``). First the JSON Schema (unknown keys, types, ranges),
then what only hepinfer knows (model names and options, batch sizes and dynamic axes the
model takes, backend names, each backend's options and their values), so that a file with
three mistakes says all three, worded as the file's keys, not as the command line's flags.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.errors import ConfigurationError, HepinferError

GRID_KEYS = ("backends", "batches", "threads", "devices", "options", "dims", "exporter", "seed")


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake: its line (1-based), where in the file (``models[1].batches[0]``) and the
    message, what is wrong and, after ``;``, what to do."""

    line: int
    where: str
    what: str

    def text(self, path: Path) -> str:
        """``sweep.yaml:5: options.onnxruntime.bogus: ...``."""
        return f"{path}:{self.line}: {self.where or 'top level'}: {self.what}"


def read(path: Path) -> tuple[Any, Any]:
    """The file's data and its YAML node tree; a one-line error when unreadable or not YAML."""
    from hepinfer._optional import require

    yaml = require("yaml", "a sweep configuration (YAML)")
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigurationError(f"cannot read sweep configuration {path}: {err.strerror}") from None
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigurationError(f"{where}: not valid YAML: {problem}") from None


def check(data: Any, path: Path, root: Any = None) -> None:
    """Raise one ConfigurationError listing every problem of the file, one per line."""
    found = problems(data, root)
    if not found:
        return
    lines = [p.text(path) for p in found]
    if len(lines) == 1:
        raise ConfigurationError(lines[0])
    head = f"{path}: {len(lines)} mistakes, nothing was run:"
    raise ConfigurationError("\n".join([head, *lines]))


def problems(data: Any, root: Any = None) -> list[Problem]:
    """Every problem of a configuration, in line order: the schema's, then hepinfer's."""
    located = _schema_problems(data, root)
    found = [p for p, _ in located]
    if isinstance(data, dict) and isinstance(data.get("models"), list):
        found += _Semantics(data, root, [path for _, path in located]).problems()
    unique = {(p.line, p.what): p for p in found}
    return sorted(unique.values())


# ---------------------------------------------------------------------------------------------
# The schema


def _schema_problems(data: Any, root: Any) -> list[tuple[Problem, tuple[Any, ...]]]:
    """The schema's problems, each with the path of the part it refuses."""
    from hepinfer._optional import require
    from hepinfer.runner.sweep import schema

    jsonschema = require("jsonschema", "checking a sweep configuration")

    validator = jsonschema.Draft202012Validator(schema())
    out: list[tuple[Problem, tuple[Any, ...]]] = []
    errors = list(validator.iter_errors(data))
    while errors:
        error = errors.pop(0)
        if error.validator in ("oneOf", "anyOf") and error.context:
            errors[:0] = _branch(error)
            continue
        where = list(error.absolute_path)
        what = error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(str(k) for k in error.schema.get("properties", {}))
            for extra in sorted(str(k) for k in error.instance if k not in allowed):
                parts = [*where, extra]
                what = f"unknown key; use one of {', '.join(allowed)}"
                out.append(_located(root, parts, what))
            continue
        what = _with_fix(error)
        if len(what) > 200:
            what = what[:197] + "..."
        out.append(_located(root, where, what))
    return out


def _branch(error: Any) -> list[Any]:
    """The errors of the alternative the value was meant as: the first whose type it has
    (``models[1]`` written as a mapping is a model entry, not a misspelt name)."""
    by_branch: dict[Any, list[Any]] = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in by_branch.values():
        if not any(s.validator == "type" and not s.relative_path for s in subs):
            return subs
    return [min(error.context, key=lambda s: len(s.relative_schema_path))]


def _with_fix(error: Any) -> str:
    """A schema message with what to do."""
    kind, value = error.validator, error.validator_value
    message: str = error.message
    if kind == "required":
        return message.replace(" is a required property", " is required") + "; add it"
    if kind == "minimum":
        return f"{message}; use {value} or more"
    if kind == "exclusiveMinimum":
        return f"{message}; use more than {value}"
    if kind == "type":
        names = {"array": "list", "object": "mapping", "integer": "whole number"}
        kinds = value if isinstance(value, list) else [value]
        want = " or ".join(str(names.get(k, k)) for k in kinds)
        article = "an" if want[0] in "aeiou" else "a"
        return f"{error.instance!r} is not {article} {want}; write {article} {want} here"
    if kind == "uniqueItems":
        return f"{message}; give each value once"
    if kind == "minItems":
        return f"{message}; give at least {value}"
    if kind == "pattern":
        return f"{error.instance!r} is not a device; use cpu, cuda or cuda:N"
    if kind == "enum":
        return f"{error.instance!r} is not allowed; use one of {', '.join(map(str, value))}"
    return message


def _located(root: Any, parts: Sequence[Any], what: str) -> tuple[Problem, tuple[Any, ...]]:
    return Problem(line=line_of(root, parts), where=dotted(parts), what=what), tuple(parts)


def dotted(parts: Sequence[Any]) -> str:
    """``models[1].batches[0]``."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def line_of(root: Any, parts: Sequence[Any]) -> int:
    """1-based line of the YAML node at ``parts`` (the key's line for a mapping entry); the
    deepest node that exists when the path goes on past the file."""
    import yaml

    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# ---------------------------------------------------------------------------------------------
# What only hepinfer knows

# Flags in messages from the planning code, as the keys of a sweep file.
_FLAGS = (
    (re.compile(r"--option (\w[\w.:]*)\.(\w+)=(\S+)"), r"options.\1.\2: \3"),
    (re.compile(r"--option (\w[\w.:]*)\.(\w+)"), r"options.\1.\2"),
    (re.compile(r"--param (\w+)=(\S+)"), r"params.\1: \2"),
    (re.compile(r"--param (\w+)"), r"params.\1"),
    (re.compile(r"--dim (\w+)=N"), r"dims: {\1: N}"),
    (re.compile(r"--dim (\w+)=(\S+)"), r"dims.\1: \2"),
    (re.compile(r"--dim (\w+)"), r"dims.\1"),
    (re.compile(r"--batch (\d+)"), r"batches: [\1]"),
    (re.compile(r"--param\b"), "params:"),
    (re.compile(r"--backend\b"), "backends:"),
)


def in_file_terms(message: str) -> str:
    """A planning message with its command-line flags written as sweep-file keys."""
    for pattern, replacement in _FLAGS:
        message = pattern.sub(replacement, message)
    return message


class _Semantics:
    """The checks that need hepinfer: each model's name, options, batches and dims, each
    backend and option. Parts the schema already refused are not checked again."""

    def __init__(self, data: dict[str, Any], root: Any, bad: Sequence[tuple[Any, ...]]) -> None:
        self.data, self.root, self.bad = data, root, list(bad)
        self.found: list[Problem] = []

    def problems(self) -> list[Problem]:
        for i, item in enumerate(self.data["models"]):
            whole = {("models", i), ("models", i, "name")}
            if any(p in whole for p in self.bad) or not isinstance(item, str | dict):
                continue
            self._model(i, {"name": item} if isinstance(item, str) else item)
        return self.found

    def _refused(self, path: tuple[Any, ...]) -> bool:
        """The schema refused this part (or something inside it)."""
        return any(p[: len(path)] == path for p in self.bad)

    def _add(self, parts: Sequence[Any], what: str) -> None:
        self.found.append(Problem(line=line_of(self.root, parts), where=dotted(parts), what=what))

    def _grid(self, i: int, model: Mapping[str, Any], key: str) -> tuple[Any, tuple[Any, ...]]:
        """The value of a grid key for model ``i`` (its own, else the top level's) and its path."""
        if key in model:
            return model[key], ("models", i, key)
        return self.data.get(key), (key,)

    def _model(self, i: int, model: Mapping[str, Any]) -> None:
        from hepinfer.zoo import model_ref, spec_of

        name = model["name"]
        at = ("models", i, "name") if isinstance(self.data["models"][i], dict) else ("models", i)
        spec = None
        if not self._refused(("models", i, "params")):
            try:
                spec = spec_of(model_ref(name, model.get("params") or {}))
            except HepinferError as err:
                self._model_error(i, model, at, str(err))
        backends = self._backends(i, model)
        self._options(i, model, backends)
        if "reference" in model:
            self._backend_name(("models", i, "reference"), model["reference"])
        if spec is None:
            return
        batches, bpath = self._grid(i, model, "batches")
        if batches and not self._refused(bpath):
            for j, size in enumerate(batches):
                try:
                    spec.check_batch(size)
                except HepinferError as err:
                    self._add([*bpath, j], in_file_terms(str(err)))
        dims, dpath = self._grid(i, model, "dims")
        if not self._refused(dpath):
            try:
                spec.resolve_dims(dims or {})
            except HepinferError as err:
                self._dims_error(dpath, dims or {}, str(err))

    def _model_error(self, i: int, model: Mapping[str, Any], at: tuple[Any, ...], message: str) -> None:
        text = in_file_terms(message)
        found = re.search(r"params\.(\w+)", text) or re.search(
            rf"{re.escape(str(model['name']))} (\w+)=", text
        )
        params = model.get("params") or {}
        if found and found.group(1) in params:
            self._add(["models", i, "params", found.group(1)], text.removeprefix(f"{found.group(0)}: "))
        elif "params" in model and ("params" in text or "option" in text):
            self._add(["models", i, "params"], text)
        else:
            fix = "; write a zoo name or the path of a model file" if "unknown model" in text else ""
            self._add(list(at), text + fix)

    def _dims_error(self, dpath: tuple[Any, ...], dims: Mapping[str, Any], message: str) -> None:
        text = in_file_terms(message)
        found = re.search(r"dims\.(\w+)", text)
        if found and found.group(1) in dims:
            self._add([*dpath, found.group(1)], text.removeprefix(f"{found.group(0)}: "))
        else:
            self._add(list(dpath), text)

    def _backend_name(self, parts: Sequence[Any], name: str) -> bool:
        from hepinfer.backends.registry import BUILTIN, check_name

        try:
            check_name(name)
        except HepinferError:
            self._add(parts, f"unknown backend '{name}'; use one of {', '.join(BUILTIN)}")
            return False
        return True

    def _backends(self, i: int, model: Mapping[str, Any]) -> list[str]:
        """The model's backends that exist (unknown ones reported at their line)."""
        backends, bpath = self._grid(i, model, "backends")
        if backends is None:
            return ["onnxruntime", "pytorch"]
        if self._refused(bpath):
            return []
        return [b for j, b in enumerate(backends) if self._backend_name([*bpath, j], b)]

    def _options(self, i: int, model: Mapping[str, Any], backends: Sequence[str]) -> None:
        from hepinfer.backends.registry import backend_class

        options, opath = self._grid(i, model, "options")
        if not options or self._refused(opath):
            return
        _, bpath = self._grid(i, model, "backends")
        for backend, values in options.items():
            if not self._backend_name([*opath, backend], backend):
                continue
            if backend not in backends:
                listed = ", ".join(backends) or "none"
                whose = f" of models[{i}]" if bpath[0] == "models" and opath[0] != "models" else ""
                self._add(
                    [*opath, backend],
                    f"options for {backend}, which is not among {dotted(bpath)} ({listed}){whose}; "
                    f"add {backend} to {dotted(bpath)} or drop its options",
                )
                continue
            try:
                cls = backend_class(backend)
            except HepinferError as err:
                self._add([*opath, backend], str(err))
                continue
            names = sorted({f.name for f in dataclasses.fields(cls.Options)} - {"threads", "device"})
            for key, value in values.items():
                kpath = [*opath, backend, key]
                if key not in names:
                    self._add(kpath, f"{backend} has no option '{key}'; its options: {', '.join(names)}")
                    continue
                for j, one in enumerate(value if isinstance(value, list) else [value]):
                    try:
                        cls.Options.from_strings(backend, {key: option_text(one)})
                    except HepinferError as err:
                        why = str(err).split(": ", 1)[-1]
                        where = [*kpath, j] if isinstance(value, list) else kpath
                        self._add(where, f"{one!r} is not a value of {key}; {why}")


def option_text(value: Any) -> str:
    """A YAML option value as the string BackendOptions parses (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
