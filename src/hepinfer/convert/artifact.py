"""A model as a backend receives it: its spec, and the formats it can be had in.

It lives in convert/ because what it does is conversion (a zoo model exported to ONNX, its
Keras twin); backends take one in ``load`` and import it from here (or ``backends.base``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hepinfer.errors import BackendUnavailable, ConversionError
from hepinfer.zoo import ModelRef, ModelSpec

if TYPE_CHECKING:  # a worker that loads an ONNX file imports no repository reader
    from hepinfer.zoo.triton_config import RepositoryModel

# The format a model file is in, as backends declare it in ``Backend.formats``.
FILE_FORMATS = {
    "torchscript": "torchscript",
    "keras": "tf",
    "savedmodel": "tf",
    "graphdef": "tf",
    "mxnet": "mxnet",
}


@dataclass
class ModelArtifact:
    """A model as a backend receives it: its spec, and the formats it can be had in.

    ``onnx_path`` and ``torch_module`` convert lazily (a zoo model is exported only when an
    ONNX backend asks); what conversion cost is kept in ``conversions`` for the record.
    """

    ref: ModelRef
    spec: ModelSpec
    exporter: str = "dynamo"
    conversions: dict[str, Any] = field(default_factory=dict)
    _onnx: Path | None = None

    @classmethod
    def staged(
        cls, ref: ModelRef, spec: ModelSpec, exporter: str, fields: Mapping[str, Any]
    ) -> ModelArtifact:
        """The artifact the parent staged (``runner.stage``'s job fields: the ONNX file it
        exported or converted, and what that cost), as the parent and the worker both open it."""
        onnx = fields.get("onnx_path")
        return cls(
            ref=ref,
            spec=spec,
            exporter=exporter,
            conversions=dict(fields.get("conversions") or {}),
            _onnx=Path(onnx) if onnx else None,
        )

    @property
    def formats(self) -> frozenset[str]:
        """Formats available without a foreign converter ("keras": a zoo model's Keras twin)."""
        if self.ref.kind == "triton":
            return frozenset({"torch" if self._repository_model().format == "torchscript" else "onnx"})
        if self.ref.kind == "onnx":
            return frozenset({"onnx"})
        if self.ref.kind != "zoo":  # a file in its own framework's format, and ONNX from it
            return frozenset({FILE_FORMATS[self.ref.kind], "onnx"})
        from hepinfer.zoo.keras_twins import has_keras

        twin = {"keras"} if has_keras(self.ref.name) else set()
        return frozenset({"onnx", "torch", *twin})

    def needs_onnx(self, backend_formats: frozenset[str]) -> bool:
        """Whether a backend taking ``backend_formats`` reads this model's ONNX file (not a
        model it takes in its own format: the zoo's PyTorch module or Keras twin, a TorchScript
        archive, a TensorFlow file)."""
        native = (backend_formats & self.formats) - {"onnx"}
        return "onnx" in backend_formats and not native

    def onnx_path(self) -> Path:
        """The ONNX file: the user's, or the zoo model exported (cached) with the chosen exporter.

        Exporter "tf2onnx" exports the model's Keras twin instead of its PyTorch definition.
        A file in its own format is converted (TorchScript: torch.onnx's legacy exporter;
        Keras, SavedModel, GraphDef: tf2onnx); exporter "twin", and MXNet (no converter here),
        take the ONNX twin the user gave with ``--like``.
        """
        if self._onnx is None:
            if self.ref.kind == "onnx":
                self._onnx = Path(self.ref.name)
            elif self.ref.kind == "triton":
                served = self._repository_model()
                if served.format != "onnx":
                    raise BackendUnavailable(
                        f"model {served.name} is a TorchScript file ({served.file}); run it with a "
                        "backend that takes PyTorch models (pytorch, or triton on a server)"
                    )
                self._onnx = served.file
            elif self.ref.kind != "zoo":
                self._onnx = self._file_to_onnx()
            elif self.exporter == "tf2onnx":
                from hepinfer.convert.keras_onnx import export_keras

                keras_export = export_keras(self.ref, self.spec)
                self.conversions["keras_to_onnx"] = keras_export.to_dict()
                self._onnx = keras_export.path
            else:
                from hepinfer.convert.torch_onnx import export_zoo

                export = export_zoo(self.ref, self.spec, exporter=self.exporter)  # type: ignore[arg-type]
                self.conversions["torch_to_onnx"] = export.to_dict()
                self._onnx = export.path
        return self._onnx

    def _file_to_onnx(self) -> Path:
        """The ONNX file of a model file in its own format (converted, or its twin)."""
        if self.exporter == "twin" or self.ref.kind == "mxnet":
            if self.ref.like is None:
                why = "MXNet has no ONNX converter here" if self.ref.kind == "mxnet" else "--exporter twin"
                raise ConversionError(
                    f"{why}: give the model's ONNX twin with --like FILE.onnx for the ONNX backends"
                )
            self.conversions["twin"] = {"path": self.ref.like, "tool": "given (--like)", "seconds": 0.0}
            return Path(self.ref.like)
        if self.ref.kind == "torchscript":
            from hepinfer.convert.torchscript import export_torchscript

            export = export_torchscript(self.ref, self.spec)
            self.conversions["torchscript_to_onnx"] = {**export.to_dict(), "tool": "torch.onnx"}
            return export.path
        from hepinfer.convert.tf_graph import export_native

        tf_export = export_native(self.ref, self.spec)
        self.conversions[f"{self.ref.kind}_to_onnx"] = {**tf_export.to_dict(), "tool": "tf2onnx"}
        return tf_export.path

    def converted(self, name: str) -> Path | None:
        """The file a parent-side conversion made (``conversions[name]["path"]``), if any."""
        entry = self.conversions.get(name)
        return Path(entry["path"]) if entry and entry.get("path") else None

    def torch_module(self) -> Any:
        """The zoo model's PyTorch module (seeded weights, eval mode), or a repository
        model's TorchScript file loaded with torch.jit.load."""
        if self.ref.kind == "triton":
            return _torchscript(self._repository_model().file, self.spec)
        from hepinfer.zoo import entry

        return entry(self.ref.name).build(dict(self.ref.params))

    def _repository_model(self) -> RepositoryModel:
        from hepinfer.zoo.triton_config import repository_model

        return repository_model(Path(self.ref.name))

    def keras_model(self) -> Any:
        """The zoo model's Keras twin, with the PyTorch definition's weights (imports keras)."""
        from hepinfer.zoo.keras_twins import load_keras

        return load_keras(self.ref.name, dict(self.ref.params))


def _torchscript(path: Path, spec: ModelSpec) -> Any:
    """A TorchScript file returning the outputs its Triton config lists, ``OUTPUT__K`` being
    the K-th result (as Triton's libtorch backend takes them): a config may list fewer."""
    import torch

    scripted = torch.jit.load(str(path), map_location="cpu")
    picks = [int(t.name.rsplit("__", 1)[1]) for t in spec.outputs]

    class Picked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scripted = scripted

        def forward(self, *args: Any) -> Any:
            out = self.scripted(*args)
            values = out if isinstance(out, (tuple, list)) else (out,)
            return tuple(values[k] for k in picks)

    return Picked().eval()
