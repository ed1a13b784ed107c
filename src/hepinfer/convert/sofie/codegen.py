"""SOFIE's side of the build: what it parses, which operators it lacks, the C++ it writes.

SOFIE (the ``sofie`` package, ROOT TMVA's code generator without ROOT) parses an ONNX file (or
a zoo model through its PyTorch or Keras parser) and writes a standalone C++ header whose
``doInfer(session, inputs..., outputs...)`` runs the model on raw buffers. It fixes every shape
in the generated code. Around that header hepinfer writes C entry points (``entry.cxx``): create,
destroy, infer, and a timing loop, so that SOFIE can also be timed the way rootbench times it:
std::chrono::steady_clock around each call, in C++. SOFIE itself is imported only here, and
only when called.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hepinfer._optional import require
from hepinfer.cache import digest, file_digest
from hepinfer.errors import ConversionError

_CTYPES = {
    "float": "float32",
    "double": "float64",
    "int64_t": "int64",
    "int32_t": "int32",
    "bool": "bool",
}


@dataclass(frozen=True)
class TensorArg:
    """One argument of the generated ``doInfer``: the ONNX tensor, C type, shape."""

    name: str
    ctype: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Source:
    """What SOFIE parses: an ONNX file, or a zoo model through SOFIE's PyTorch or Keras parser.

    ``parser`` "pytorch" exports the zoo's PyTorch module with torch.export at the input
    shapes; "keras" saves the model's Keras twin as a .keras file, or reads ``keras_path`` (a
    foreign ONNX file converted by onnx2keras in the parent: the seed's ONNX -> Keras -> SOFIE
    route). ``names`` are the input and output names in order (the spec's), which SOFIE's C++
    names are matched to.
    """

    parser: Literal["onnx", "pytorch", "keras"]
    label: str
    onnx_path: Path | None = None
    zoo_name: str | None = None
    zoo_params: tuple[tuple[str, Any], ...] = ()
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    keras_path: Path | None = None

    def content_hash(self) -> str:
        """The file's hash, or the zoo model's options and the source of its definition."""
        if self.parser == "onnx":
            assert self.onnx_path is not None
            return file_digest(self.onnx_path)
        if self.keras_path is not None:
            return digest("keras-file", file_digest(self.keras_path))
        import importlib
        import inspect

        from hepinfer.zoo import entry

        assert self.zoo_name is not None
        modules = [f"hepinfer.zoo.{entry(self.zoo_name).module}"]
        if self.parser == "keras":
            modules.append("hepinfer.zoo.keras_twins")
        sources = [inspect.getsource(importlib.import_module(m)) for m in modules]
        framework = "torch" if self.parser == "pytorch" else "keras"
        version = importlib.import_module(framework).__version__
        return digest(self.parser, self.zoo_name, self.zoo_params, version, digest(*sources))


def sofie_module() -> Any:
    """The ``sofie`` package, or the error naming the extra that installs it."""
    return require("sofie", "the sofie backend")


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Capture what SOFIE prints: through Python's sys.stdout and on file descriptor 1."""
    out: list[str] = []
    py = io.StringIO()
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            with contextlib.redirect_stdout(py):
                yield out
        finally:
            ctypes.CDLL(None).fflush(None)  # C++'s std::cout is buffered when fd 1 is not a tty
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            out.append(py.getvalue() + tmp.read().decode(errors="replace"))


def unsupported_operators(onnx_path: Path) -> dict[str, int]:
    """Operators of the file that SOFIE lacks, with how many nodes of the model use each.

    SOFIE names them; the counts come from the graph (SOFIE's own count is per kind).
    """
    sofie = sofie_module()
    parser = sofie.RModelParser_ONNX()
    with _captured_stdout() as text:
        ok = parser.check_model(str(onnx_path), False)
    if ok:
        return {}
    names: list[str] = []
    lines = text[0].splitlines()
    start = next((i for i, line in enumerate(lines) if "missing operators" in line), None)
    for line in lines[(start + 1) if start is not None else 0 :]:
        m = re.match(r"^\s*(\w+)\s+(\d+)\s*$", line)
        if m:
            names.append(m.group(1))
    counts = _op_counts(onnx_path)
    return {n: counts.get(n, 1) for n in names} or {"(SOFIE's check failed without naming them)": 1}


def _op_counts(onnx_path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}

    def walk(graph: Any) -> None:
        for node in graph.node:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
            for attr in node.attribute:
                if attr.g is not None and attr.HasField("g"):
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(onnx.load(str(onnx_path), load_external_data=False).graph)
    return counts


def check_supported(onnx_path: Path) -> None:
    """Raise the one-line error naming the operators SOFIE cannot run, if any."""
    missing = unsupported_operators(onnx_path)
    if missing:
        ops = ", ".join(f"{op} ({n})" for op, n in sorted(missing.items()))
        raise ConversionError(f"SOFIE cannot run this model: unsupported operators {ops}")


@dataclass(frozen=True)
class Generated:
    """What ``generate`` left in the work folder (``model.hxx``, ``entry.cxx``): doInfer's
    namespace and tensors, the BLAS routines the header declares, and how long SOFIE took."""

    namespace: str
    inputs: tuple[TensorArg, ...]
    outputs: tuple[TensorArg, ...]
    routines: tuple[str, ...]
    generate_s: float


def generate(sofie: Any, source: Source, shapes: Mapping[str, Sequence[int]], work: Path) -> Generated:
    """SOFIE's header for the source at these shapes, and hepinfer's entry points beside it.

    A failure raises a ``ConversionError`` with SOFIE's message and the tail of what it printed.
    """
    t0 = time.perf_counter()
    with _captured_stdout() as text:
        try:
            rmodel, names = _parse(sofie, source, shapes, work)
            batch = _batch_of(shapes)
            rmodel.generate(sofie.Options.kDefault, batch)
            rmodel.output_generated(str(work / "model.hxx"))
        except Exception as err:  # SOFIE raises RuntimeError with its own message
            failure: Exception | None = err
        else:
            failure = None
    if failure is not None:
        said = " ".join(text[0].split())[-300:]
        raise ConversionError(
            f"SOFIE could not generate code for {source.label}: {failure}"
            + (f" (SOFIE said: {said})" if said else "")
        ) from failure
    generate_s = time.perf_counter() - t0
    header = (work / "model.hxx").read_text()
    namespace, inputs, outputs = _signature(header, rmodel, *names)
    routines = tuple(sorted(set(re.findall(r'extern "C" void (\w+_)\s*\(', header))))
    (work / "entry.cxx").write_text(_entry_source(namespace, inputs, outputs))
    return Generated(namespace, inputs, outputs, routines, generate_s)


def _parse(
    sofie: Any, source: Source, shapes: Mapping[str, Sequence[int]], work: Path
) -> tuple[Any, tuple[list[str], list[str]]]:
    """SOFIE's RModel of the source at these shapes, and the input and output names in order."""
    if source.parser == "onnx":
        import onnx

        assert source.onnx_path is not None
        fixed = _fix_shapes(source.onnx_path, shapes, work / "model.onnx")
        graph = onnx.load(str(fixed), load_external_data=False).graph
        inits = {i.name for i in graph.initializer}
        names = (
            [t.name for t in graph.input if t.name not in inits],
            [t.name for t in graph.output],
        )
        return sofie.onnx.parse(str(fixed)), names
    names = (list(source.input_names), list(source.output_names))
    if source.parser == "pytorch":
        torch = require("torch", "SOFIE's PyTorch parser")
        from hepinfer.zoo import entry

        assert source.zoo_name is not None
        module = entry(source.zoo_name).build(dict(source.zoo_params))
        example = tuple(torch.zeros(tuple(shapes[n])) for n in source.input_names)
        return sofie.pytorch.parse(torch.export.export(module, example)), names
    if source.keras_path is not None:  # the parent's onnx2keras conversion of a foreign file
        return sofie.keras.parse(str(source.keras_path), batch_size=_batch_of(shapes)), names
    from hepinfer.zoo.keras_twins import build_keras

    assert source.zoo_name is not None
    path = work / "model.keras"
    build_keras(source.zoo_name, dict(source.zoo_params)).save(str(path))
    return sofie.keras.parse(str(path), batch_size=_batch_of(shapes)), names


def _batch_of(shapes: Mapping[str, Sequence[int]]) -> int:
    first = next(iter(shapes.values()), [1])
    return int(first[0]) if first else 1


def _fix_shapes(src: Path, shapes: Mapping[str, Sequence[int]], dst: Path) -> Path:
    """A copy of the file with every input's axes set to the concrete sizes (SOFIE needs them)."""
    import onnx

    model = onnx.load(str(src))
    inits = {i.name for i in model.graph.initializer}
    for tensor in model.graph.input:
        if tensor.name in inits:
            continue
        if tensor.name not in shapes:
            raise ConversionError(f"no shape given for input {tensor.name} of {src.name}")
        dims = tensor.type.tensor_type.shape.dim
        want = list(shapes[tensor.name])
        if len(dims) != len(want):
            raise ConversionError(
                f"input {tensor.name} of {src.name} has {len(dims)} axes, the inputs {len(want)}"
            )
        for d, size in zip(dims, want, strict=True):
            d.Clear()
            d.dim_value = int(size)
    # Output axes are left to SOFIE's shape inference, except a symbolic batch that it cannot name.
    for tensor in model.graph.output:
        for d in tensor.type.tensor_type.shape.dim:
            if d.dim_param:
                d.Clear()
    onnx.save(model, str(dst))
    return dst


def _signature(
    header: str, rmodel: Any, in_names: list[str], out_names: list[str]
) -> tuple[str, tuple[TensorArg, ...], tuple[TensorArg, ...]]:
    """The namespace, and doInfer's arguments matched to the model's inputs and outputs in order."""
    ns = re.search(r"^namespace (SOFIE_\w+)\s*\{", header, re.M)
    sig = re.search(r"inline void doInfer\(Session const &session,\s*(.*?)\)\s*;", header, re.S)
    if ns is None or sig is None:
        raise ConversionError("the SOFIE header has no doInfer(Session const&, ...) entry point")
    args = [a.strip() for a in sig.group(1).split(",") if a.strip()]
    ins: list[tuple[str, str]] = []
    outs: list[tuple[str, str]] = []
    for arg in args:
        m = re.match(r"^(\w+)\s*(const)?\s*\*\s*(\w+)$", arg)
        if m is None or m.group(1) not in _CTYPES:
            raise ConversionError(
                f"SOFIE's doInfer takes '{arg}': hepinfer passes tensors of {', '.join(_CTYPES)} only"
            )
        (ins if m.group(2) else outs).append((m.group(1), m.group(3)))
    if len(ins) != len(in_names) or len(outs) != len(out_names):
        raise ConversionError(
            f"SOFIE's doInfer has {len(ins)} inputs and {len(outs)} outputs, the model "
            f"{len(in_names)} and {len(out_names)}"
        )

    # doInfer takes SOFIE's inputs and outputs in the order SOFIE lists them.
    sofie_ins = list(rmodel.get_input_tensor_names())
    sofie_outs = list(rmodel.get_output_tensor_names())

    def tensor_arg(name: str, sofie_name: str, ctype: str) -> TensorArg:
        shape = tuple(int(d) for d in rmodel.get_tensor_shape(sofie_name))
        return TensorArg(name, ctype, _CTYPES[ctype], shape)

    return (
        ns.group(1),
        tuple(tensor_arg(n, s, c) for n, s, (c, _) in zip(in_names, sofie_ins, ins, strict=True)),
        tuple(tensor_arg(n, s, c) for n, s, (c, _) in zip(out_names, sofie_outs, outs, strict=True)),
    )


def _entry_source(namespace: str, inputs: Sequence[TensorArg], outputs: Sequence[TensorArg]) -> str:
    """The C entry points around the header: create, destroy, infer, and the timing loop.

    ``hepinfer_time_loop`` runs ``warmup`` untimed calls, then ``n`` calls each timed with
    steady_clock, writing the ns of call i to ``ns[i]``; it returns how many it timed, or -1
    when doInfer threw (the message goes to stderr). ``hepinfer_clock_pairs`` times ``n``
    back-to-back steady_clock pairs: the floor under every sample of the loop.
    """
    ins = [f"static_cast<const {a.ctype}*>(in[{i}])" for i, a in enumerate(inputs)]
    outs = [f"static_cast<{a.ctype}*>(out[{i}])" for i, a in enumerate(outputs)]
    # The loop casts its pointers once, so that each timed call is doInfer and nothing else.
    locals_ = [f"  const {a.ctype}* in{i} = {c};" for i, (a, c) in enumerate(zip(inputs, ins, strict=True))]
    locals_ += [f"  {a.ctype}* out{i} = {c};" for i, (a, c) in enumerate(zip(outputs, outs, strict=True))]
    loop_args = ", ".join([f"in{i}" for i in range(len(inputs))] + [f"out{i}" for i in range(len(outputs))])
    declared = "\n".join(locals_)
    return f"""// Generated by hepinfer: C entry points around SOFIE's header.
#include "model.hxx"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>

extern "C" {{
void* hepinfer_create(const char* weights) {{
  try {{
    return weights ? new {namespace}::Session(weights) : new {namespace}::Session();
  }} catch (const std::exception& e) {{
    std::fprintf(stderr, "hepinfer_create: %s\\n", e.what());
    return nullptr;
  }}
}}
void hepinfer_destroy(void* s) {{ delete static_cast<{namespace}::Session*>(s); }}
void hepinfer_infer(void* s, void* const* in, void* const* out) {{
  {namespace}::doInfer(*static_cast<{namespace}::Session*>(s),
      {", ".join(ins + outs)});
}}
int64_t hepinfer_time_loop(void* s, void* const* in, void* const* out, int64_t n, int64_t warmup,
                           int64_t* ns) {{
  using clock = std::chrono::steady_clock;
  const auto& session = *static_cast<{namespace}::Session*>(s);
{declared}
  try {{
    for (int64_t i = 0; i < warmup; ++i) {namespace}::doInfer(session, {loop_args});
    for (int64_t i = 0; i < n; ++i) {{
      const auto t0 = clock::now();
      {namespace}::doInfer(session, {loop_args});
      const auto t1 = clock::now();
      ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }}
  }} catch (const std::exception& e) {{
    std::fprintf(stderr, "hepinfer_time_loop: %s\\n", e.what());
    return -1;
  }}
  return n;
}}
void hepinfer_clock_pairs(int64_t n, int64_t* ns) {{
  using clock = std::chrono::steady_clock;
  for (int64_t i = 0; i < n; ++i) {{
    const auto t0 = clock::now();
    const auto t1 = clock::now();
    ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }}
}}
}}
"""
