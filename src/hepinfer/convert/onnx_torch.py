"""ONNX -> PyTorch with onnx2torch, run under the onnx2torch venv's interpreter.

onnx2torch imports torchvision, which has no build beside the main venv's torch; the side venv
(``make onnx2torch``) has torch 2.14.1 + torchvision 0.29.1. The parent converts there, in a
subprocess (``python -m hepinfer.convert.onnx_torch SRC.onnx DST.pt``), saving the converted
``torch.fx.GraphModule`` whole with ``torch.save``; the pytorch worker for a foreign ONNX file
runs under the same interpreter (``PyTorchBackend.interpreter``) and loads it: a file this
process wrote, not a user's pickle. A failure says in one line which operator and node it
failed at: an operator onnx2torch has no converter for (DeepJet's LSTM), a converter that
refuses a node (ParticleNet AK8's BatchNormalization of spatial rank -2), or a converted module
that fails when run (the node of the ``torch.fx`` graph and its module).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepinfer.cache import cache_dir, digest, file_digest
from hepinfer.errors import BackendUnavailable, ConversionError

# onnx2torch: "Converter is not implemented (OperationDescription(domain='', operation_type='LSTM', ...))"
_OP = re.compile(r"operation_type='(\w+)'")


@dataclass(frozen=True)
class TorchConversion:
    """A saved module made from an ONNX file by onnx2torch, and how."""

    path: Path
    python: str
    tool_version: str
    torch_version: str
    seconds: float
    cached: bool

    def to_dict(self) -> dict[str, Any]:
        """For the record (``one_off.conversion.onnx_to_torch``) and the worker's load."""
        return {
            "path": str(self.path),
            "python": self.python,
            "tool": "onnx2torch",
            "tool_version": self.tool_version,
            "torch_version": self.torch_version,
            "seconds": self.seconds,
            "cached": self.cached,
        }


def onnx_to_torch(onnx_path: Path, timeout_s: float = 600.0) -> TorchConversion:
    """Convert in the onnx2torch venv (cached by the file's digest and the venv's interpreter)."""
    from hepinfer.venvs import missing, side_python

    python = side_python("onnx2torch")
    if python is None:
        raise BackendUnavailable(f"pytorch cannot run ONNX files here: {missing('onnx2torch')}")
    key = digest(file_digest(onnx_path), str(python.resolve()))
    out = cache_dir() / "torch" / f"{onnx_path.stem}-onnx2torch-{key}.pt"
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        found = json.loads(meta.read_text())
        return TorchConversion(out, str(python), found["tool_version"], found["torch_version"], 0.0, True)
    out.parent.mkdir(parents=True, exist_ok=True)
    source = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [str(python), "-m", "hepinfer.convert.onnx_torch", str(onnx_path), str(out)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**_env(), "PYTHONPATH": source},
        check=False,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        said = (done.stdout + done.stderr).strip().splitlines()
        raise ConversionError(
            f"onnx2torch failed on {onnx_path.name}: {said[-1] if said else done.returncode}"
        )
    found = json.loads(lines[-1])
    if "error" in found:
        raise ConversionError(found["error"])
    meta.write_text(json.dumps(found))
    return TorchConversion(
        out, str(python), found["tool_version"], found["torch_version"], found["seconds"], False
    )


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def convert_here(src: Path, dst: Path) -> dict[str, Any]:
    """In the venv: onnx2torch.convert, saved with torch.save; what it cost, or the failing op."""
    import time
    from importlib.metadata import version

    import onnx2torch
    import torch

    start = time.perf_counter()
    try:
        module = onnx2torch.convert(str(src)).eval()
    except Exception as err:
        text = f"{type(err).__name__}: {err}"
        node = _converting(err)
        match = _OP.search(text)
        if node is not None:
            where = f" at operator {node.operation_type} (node '{node.name}')"
        else:
            where = f" at operator {match.group(1)}" if match else ""
        first = text.strip().splitlines()[0][:300]
        return {"error": f"onnx2torch cannot convert {src.name}{where}: {first}"}
    seconds = time.perf_counter() - start
    tmp = dst.with_name(dst.stem + ".tmp.pt")
    torch.save(module, tmp)
    tmp.replace(dst)
    return {"seconds": seconds, "tool_version": version("onnx2torch"), "torch_version": torch.__version__}


def _converting(err: BaseException) -> Any:
    """The ONNX node onnx2torch's converter loop was on when ``err`` was raised (its
    ``onnx_node`` local, from the traceback), or None."""
    tb = err.__traceback__
    found = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.endswith("onnx2torch/converter.py") and "onnx_node" in frame.f_locals:
            found = frame.f_locals["onnx_node"]
        tb = tb.tb_next
    return found


def run_here(module_path: Path, given: Path, back: Path) -> dict[str, Any]:
    """In the venv: the saved module on the arrays of an .npz (in input order), its outputs to
    another (the conversion matrix's check of this route against the source); a failure names
    the ``torch.fx`` node and module it happened in (``{"error": ...}``)."""
    import numpy as np
    import torch

    module = torch.load(module_path, weights_only=False)  # a file convert_here wrote
    with np.load(given) as found:
        xs = [torch.from_numpy(found[f"arr_{i}"]) for i in range(len(found.files))]
    with torch.no_grad():
        try:
            out = module(*xs)
        except Exception as err:
            return {"error": _run_failure(module, xs, err)}
    values = list(out) if isinstance(out, tuple | list) else [out]
    np.savez(back, *[v.numpy() for v in values])
    return {}


def _run_failure(module: Any, xs: list[Any], err: BaseException) -> str:
    """One line: the node of the converted graph that fails (found by running it again node by
    node with ``torch.fx.Interpreter``), its module's class, and the error."""
    import torch.fx

    at: list[Any] = []

    class Tracking(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            at[:] = [n]
            return super().run_node(n)

    with contextlib.suppress(Exception):  # the same error again, now with the node known
        Tracking(module).run(*xs)
    where = ""
    if at:
        node = at[0]
        kind = (
            type(module.get_submodule(node.target)).__name__ if node.op == "call_module" else str(node.target)
        )
        where = f" at node '{node.name}' ({kind})"
    first = (str(err).strip().splitlines() or [""])[0][:300]
    return f"onnx2torch's module fails when run{where}: {type(err).__name__}: {first}"


if __name__ == "__main__":
    if sys.argv[1] == "--run":
        print(json.dumps(run_here(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        print(json.dumps(convert_here(Path(sys.argv[1]), Path(sys.argv[2]))))
