"""What an event file holds: the summary ``hepinfer data info`` prints, as a plain object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLLECTIONS = ("jets", "muons", "electrons", "photons", "fatjets")
META_KEYS = ("source", "process", "seed", "generation_s")


def describe(path: str | Path, max_events: int = 5000) -> dict[str, Any]:
    """The file's metadata and, over its first ``max_events`` events: objects per event of each
    collection (mean, max), the AK4 multiplicity (pT > 30 GeV, |eta| < 2.5) as a histogram,
    the MET median and the two leading AK8 jets (None when the file has no constituents)."""
    import awkward as ak
    import numpy as np

    from hepinfer.data import builders, store

    path = Path(path)
    meta = store.metadata(path)
    events = store.read(path, entry_stop=min(int(meta.get("n_events", 0)) or 1, max_events))
    n = len(events)
    collections = {}
    for field in COLLECTIONS:
        counts = ak.to_numpy(ak.num(events[field]))
        collections[field] = {"mean": float(counts.mean()), "max": int(counts.max()) if n else 0}
    mult = builders.ak4_multiplicity(events)
    fat = builders.leading_fatjets(events)
    fatjets = None
    if len(fat):
        ncons = ak.to_numpy(ak.num(fat.constituents))
        fatjets = {
            "jets": len(fat),
            "pt_median": float(np.median(ak.to_numpy(fat.pt))),
            "mass_median": float(np.median(ak.to_numpy(fat.m))),
            "constituents_median": int(np.median(ncons)),
            "over_100_constituents": float((ncons > 100).mean()),
        }
    return {
        "path": str(path),
        "n_events": meta["n_events"],
        "metadata": {k: meta[k] for k in META_KEYS if k in meta},
        "versions": dict(meta.get("versions") or {}),
        "events_read": n,
        "collections": collections,
        "ak4_multiplicity": {k: int(v) for k, v in enumerate(np.bincount(mult, minlength=1)) if v},
        "met_median": float(np.median(ak.to_numpy(events.met))),
        "fatjets": fatjets,
    }
