"""The zoo's entries: names, options, specs and input builders, without importing torch.

The PyTorch definitions live in one module per model family (``rootbench``, ``vae``,
``taggers``, ``particlenet``, ``gnn``, ``calo``, ...), each with a ``build(name, params)``
function; the catalog names the module so that only a worker that runs the model imports
torch. Each definition module's entries are described in the module of the same name here
(``catalog/rootbench.py`` for ``zoo/rootbench.py``); ``catalog/base.py`` holds ``ZooEntry``
and the spec helpers. Input builders live in ``builders`` (numpy only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hepinfer.errors import ConfigurationError
from hepinfer.zoo.catalog import (
    calo,
    gnn,
    graph_vae,
    l1,
    particle_transformer,
    particlenet,
    rootbench,
    taggers,
    vae,
)
from hepinfer.zoo.catalog.base import ParamInputBuilder, ZooEntry, fixed_spec, make_spec
from hepinfer.zoo.spec import ModelRef

__all__ = [
    "ENTRIES",
    "ParamInputBuilder",
    "ZooEntry",
    "entry",
    "fixed_spec",
    "make_spec",
    "zoo_ref",
]

# In this order the zoo lists them (``hepinfer zoo``, hepinfer.list_models).
_FAMILIES = (rootbench, vae, particlenet, taggers, gnn, calo, l1, graph_vae, particle_transformer)

ENTRIES: dict[str, ZooEntry] = {e.name: e for family in _FAMILIES for e in family.ENTRIES}


def entry(name: str) -> ZooEntry:
    """The zoo entry of that name, or an error listing the known names."""
    try:
        return ENTRIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown model '{name}': not a zoo name ({', '.join(sorted(ENTRIES))}) "
            "nor an existing .onnx file"
        ) from None


def zoo_ref(name: str, params: Mapping[str, Any]) -> ModelRef:
    """A reference to a zoo model with checked options."""
    checked = entry(name).params(params)
    return ModelRef(kind="zoo", name=name, params=tuple(sorted(checked.items())))
