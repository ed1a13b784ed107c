"""What runs inside the Triton server: a hepinfer backend answering batches of requests.

Imported by the Python-backend model (``triton_model.py``) in the stub process. When Triton's
dynamic batcher hands over several requests, they are concatenated along the batch axis,
run in one call and split again: the batching gain the server exists for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hepinfer.backends.registry import backend_class
from hepinfer.convert.artifact import ModelArtifact
from hepinfer.zoo import ModelRef, spec_of

Feeds = Mapping[str, np.ndarray]


class Runtime:
    """One loaded backend with the model of a served repository entry."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        ref = ModelRef.from_dict(job["model_ref"])
        self.spec = spec_of(ref)
        self.cls = backend_class(job["backend"])
        reason = self.cls.unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"backend {self.cls.name} is unavailable in the server: {reason}")
        artifact = ModelArtifact(ref=ref, spec=self.spec, exporter=job["exporter"])
        options = self.cls.Options.from_values(self.cls.name, job["options"], threads=int(job["threads"]))
        self.backend = self.cls()
        self.backend.load(artifact, options)
        self.batched = bool(job["batched"])
        self.input_names = [t.name for t in self.spec.inputs]
        # A repository's config may list fewer outputs than the file has: the server takes
        # only those it declares.
        self.output_names = {t.name for t in self.spec.outputs}

    def _call(self, feeds: Feeds) -> dict[str, np.ndarray]:
        with self.backend.inference_scope():  # thread-local (torch): entered on each call
            prepared = self.backend.prepare(dict(feeds))
            raw = self.backend.run(prepared)
            if self.cls.needs_sync:
                self.backend.synchronize()
            out = self.backend.fetch(prepared, raw)
        return {k: v for k, v in out.items() if k in self.output_names}

    def infer(self, requests: Sequence[Feeds]) -> list[dict[str, np.ndarray] | str]:
        """Outputs per request, or the one-line error of a request that failed."""
        if self.batched and len(requests) > 1 and _same_inner_shapes(requests):
            sizes = [len(next(iter(r.values()))) for r in requests]
            merged = {n: np.concatenate([r[n] for r in requests]) for n in self.input_names}
            try:
                out = self._call(merged)
            except Exception:  # one bad request must not fail the others: run them one by one
                pass
            else:
                bounds = np.cumsum(sizes)[:-1]
                parts = {k: np.split(v, bounds) for k, v in out.items()}
                return [{k: parts[k][i] for k in out} for i in range(len(requests))]
        results: list[dict[str, np.ndarray] | str] = []
        for feeds in requests:
            try:
                results.append(self._call(feeds))
            except Exception as err:
                text = str(err).strip().splitlines()
                results.append(f"{self.cls.name}: {text[0] if text else type(err).__name__}")
        return results


def _same_inner_shapes(requests: Sequence[Feeds]) -> bool:
    first = requests[0]
    return all(
        set(r) == set(first) and all(r[n].shape[1:] == first[n].shape[1:] for n in first) for r in requests
    )
