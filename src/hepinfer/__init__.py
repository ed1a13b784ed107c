"""hepinfer: how fast, how lean and how faithful a HEP model runs on each inference backend.

The notebook API (``hepinfer.api``), one function per command::

    import hepinfer
    records = hepinfer.bench("event_vae", backends=["onnxruntime", "pytorch"], batches=[1, 64])
    hepinfer.sweep("benchmarks/demo.yaml", out="demo.jsonl", resume=True)
    hepinfer.write_report("demo.jsonl", html="demo.html")
    session = hepinfer.Session.from_config("deploy.json")   # what ``hepinfer tune`` chose
    scores = session(inputs)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hepinfer.api import (
        bench,
        conversion_matrix,
        env,
        eventloop,
        loadgen,
        memory,
        model_cost,
        read_records,
        sweep,
        validate,
        write_report,
        zoo_families,
        zoo_models,
    )
    from hepinfer.session import Session

__version__ = "0.1.0"
__all__ = [
    "Session",
    "__version__",
    "bench",
    "conversion_matrix",
    "env",
    "eventloop",
    "loadgen",
    "memory",
    "model_cost",
    "read_records",
    "sweep",
    "validate",
    "write_report",
    "zoo_families",
    "zoo_models",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported when first used: ``import hepinfer`` stays light, and a
    measured worker (``python -m hepinfer.runner.worker``, which imports this package first)
    does not compile and hold ``hepinfer.api``."""
    if name == "Session":
        from hepinfer.session import Session

        return Session
    if name in __all__:
        from hepinfer import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hepinfer' has no attribute {name!r}")
