"""The event record every source produces (awkward arrays, one entry per event, GeV).

Fields (all present, possibly empty lists):

- ``jets``: AK4 jets ``var * {pt, eta, phi, e, btag}`` (btag a bool), falling pT.
- ``muons``, ``electrons``: ``var * {pt, eta, phi, e, charge}`` (isolated where the source says).
- ``photons``: ``var * {pt, eta, phi, e}``.
- ``met``: missing transverse momentum magnitude (GeV); ``met_phi``.
- ``fatjets``: AK8 jets ``var * {pt, eta, phi, m, e, constituents}`` with
  ``constituents: var * {pt, eta, phi, e, charge, pid}`` in falling pT.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

OBJECT_FIELDS = {
    "jets": ("pt", "eta", "phi", "e", "btag"),
    "muons": ("pt", "eta", "phi", "e", "charge"),
    "electrons": ("pt", "eta", "phi", "e", "charge"),
    "photons": ("pt", "eta", "phi", "e"),
}
CONSTITUENT_FIELDS = ("pt", "eta", "phi", "e", "charge", "pid")
FATJET_FIELDS = ("pt", "eta", "phi", "m", "e")
EVENT_FIELDS = ("jets", "muons", "electrons", "photons", "met", "met_phi", "fatjets")


def empty_fatjets(n: int) -> ak.Array:
    """``n`` events without AK8 jets, with every field typed (for sources that have none)."""
    parts = ak.zip({f: np.zeros(0, np.float32) for f in CONSTITUENT_FIELDS})
    fields: dict[str, ak.Array | np.ndarray] = {f: np.zeros(0, np.float32) for f in FATJET_FIELDS}
    fields["constituents"] = ak.unflatten(parts, np.zeros(0, np.int64))
    jets = ak.zip(fields, depth_limit=1)
    return ak.unflatten(jets, np.zeros(n, np.int64))


def make_events(fields: Mapping[str, ak.Array]) -> ak.Array:
    """The event record from its fields, checking that every field is there."""
    missing = [f for f in EVENT_FIELDS if f not in fields]
    if missing:
        raise ValueError(f"event record lacks {missing}")
    return ak.zip({f: fields[f] for f in EVENT_FIELDS}, depth_limit=1)


def delta_phi(a: np.ndarray | ak.Array, b: np.ndarray | ak.Array) -> np.ndarray | ak.Array:
    """a - b wrapped into [-pi, pi)."""
    return (a - b + np.pi) % (2 * np.pi) - np.pi
