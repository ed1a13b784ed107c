"""Realistic jets: the leading AK8 jets of generated events, as the taggers' inputs are built from."""

from __future__ import annotations

from typing import Any


def realistic_jets(events: int = 200, seed: int = 1) -> Any:
    """The two leading AK8 jets of generated QCD and narrow-G* (W jets) events (cached)."""
    import awkward as ak

    from hepinfer.data import store
    from hepinfer.data.builders import leading_fatjets
    from hepinfer.data.generate import cached

    parts = [leading_fatjets(store.read(cached(p, events, seed)[0])) for p in ("qcd", "graviton-narrow")]
    return ak.concatenate(parts)
