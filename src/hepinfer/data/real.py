"""Real CMS events packaged in scikit-hep-testdata 0.3.12 (inside the wheel, no download).

- ``hzz``: ``uproot-HZZ.root``, tree ``events``: 2421 simulated H -> ZZ -> 4 lepton events
  (CMS 2011 open-data style) with reconstructed jets (px, py, pz, E, btag, ID), muons and
  electrons (px, py, pz, E, charge, isolation), photons (px, py, pz, E, isolation) and MET
  (px, py). No jet constituents.
- ``zmumu``: ``uproot-Zmumu.root``, tree ``events``: 2304 dimuon events of the 2010 CMS
  collision data (runs 148029, 148031): two muons each (E, px, py, pz, pt, eta, phi, charge,
  global/tracker type) and their invariant mass. No jets, photons, electrons or MET.

Both are read into the common event record of ``hepinfer.data.schema`` (GeV). The ROOT
layouts (branches and converter of each file) and their reader live here, in one table;
``data.store`` tells a ROOT file from a parquet one and hands the former to ``read_root``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepinfer._optional import require
from hepinfer.data.schema import empty_fatjets, make_events
from hepinfer.errors import DataError, first_line

SOURCES = {
    "hzz": "uproot-HZZ.root",
    "zmumu": "uproot-Zmumu.root",
}
# TCHE discriminant loose working point: HZZ's Jet_btag is -1 for untagged jets.
BTAG_CUT = 1.7


def path_of(name: str) -> Path:
    """Where the packaged file of that source lies (raises DataError if absent)."""
    if name not in SOURCES:
        raise DataError(f"unknown real-data source '{name}': use one of {', '.join(SOURCES)}")
    skhep_testdata = require("skhep_testdata", "real data")
    path = Path(str(skhep_testdata.__file__)).parent / "data" / SOURCES[name]
    if not path.exists():
        raise DataError(
            f"{SOURCES[name]} is not inside scikit-hep-testdata "
            f"{getattr(skhep_testdata, '__version__', '?')}: "
            "install scikit-hep-testdata==0.3.12, whose wheel ships it"
        )
    return path


def _kinematics(px: ak.Array, py: ak.Array, pz: ak.Array, e: ak.Array) -> dict[str, ak.Array]:
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    return {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "e": e}


def _sorted(objects: ak.Array) -> ak.Array:
    return objects[ak.argsort(objects.pt, axis=1, ascending=False)]


def hzz_events(arrays: ak.Array) -> ak.Array:
    """HZZ branches (as uproot reads them) -> the event record."""

    def obj(prefix: str, extra: dict[str, ak.Array]) -> ak.Array:
        kin = _kinematics(
            arrays[f"{prefix}_Px"],
            arrays[f"{prefix}_Py"],
            arrays[f"{prefix}_Pz"],
            arrays[f"{prefix}_E"],
        )
        return _sorted(ak.zip({**kin, **extra}))

    n = len(arrays)
    met_px, met_py = arrays["MET_px"], arrays["MET_py"]
    return make_events(
        {
            "jets": obj("Jet", {"btag": arrays["Jet_btag"] > BTAG_CUT}),
            "muons": obj("Muon", {"charge": arrays["Muon_Charge"]}),
            "electrons": obj("Electron", {"charge": arrays["Electron_Charge"]}),
            "photons": obj("Photon", {}),
            "met": np.hypot(met_px, met_py),
            "met_phi": np.arctan2(met_py, met_px),
            "fatjets": empty_fatjets(n),
        }
    )


HZZ_BRANCHES = [
    *(f"{o}_{c}" for o in ("Jet", "Muon", "Electron", "Photon") for c in ("Px", "Py", "Pz", "E")),
    "Jet_btag",
    "Muon_Charge",
    "Electron_Charge",
    "MET_px",
    "MET_py",
]
ZMUMU_BRANCHES = [f"{v}{i}" for i in (1, 2) for v in ("E", "pt", "eta", "phi", "Q")]


def zmumu_events(arrays: ak.Array) -> ak.Array:
    """Zmumu branches -> the event record (two muons, everything else empty)."""
    n = len(arrays)
    muons = ak.zip(
        {
            k: np.stack([ak.to_numpy(arrays[f"{src}1"]), ak.to_numpy(arrays[f"{src}2"])], axis=1)
            for k, src in (
                ("pt", "pt"),
                ("eta", "eta"),
                ("phi", "phi"),
                ("e", "E"),
                ("charge", "Q"),
            )
        }
    )
    muons = _sorted(ak.from_regular(muons))
    empty = ak.from_regular(ak.Array(np.zeros((n, 0))))
    none = ak.zip({f: ak.values_astype(empty, np.float32) for f in ("pt", "eta", "phi", "e")})
    return make_events(
        {
            "jets": ak.with_field(none, ak.values_astype(empty, bool), "btag"),
            "muons": muons,
            "electrons": ak.with_field(none, ak.values_astype(empty, np.int32), "charge"),
            "photons": none,
            "met": np.zeros(n, np.float32),
            "met_phi": np.zeros(n, np.float32),
            "fatjets": empty_fatjets(n),
        }
    )


def converters() -> dict[str, tuple[list[str], object]]:
    """Tree branches and converter of each source, keyed by file name."""
    return {
        SOURCES["hzz"]: (HZZ_BRANCHES, hzz_events),
        SOURCES["zmumu"]: (ZMUMU_BRANCHES, zmumu_events),
    }


def load(name: str, entry_stop: int | None = None) -> ak.Array:
    """All (or the first ``entry_stop``) events of a packaged source as event records."""
    return ak.concatenate(list(read_root(path_of(name), chunk=entry_stop or 100_000, entry_stop=entry_stop)))


def root_tree(path: Path) -> tuple[Any, str]:
    """The 'events' tree of a HZZ or Zmumu file, and the name of the layout it has."""
    uproot = require("uproot", "ROOT event files")

    try:
        f = uproot.open(path)
        tree = f["events"]
        branches = set(tree.keys())
    except Exception as err:
        raise DataError(
            f"{path} cannot be read as a ROOT file with an 'events' tree "
            f"({first_line(err)}): give an uncorrupted scikit-hep-testdata HZZ or Zmumu file"
        ) from err
    for name, (needed, _conv) in converters().items():
        if set(needed) <= branches:
            return tree, name
    raise DataError(
        f"{path}: its 'events' tree has neither the HZZ nor the Zmumu branches; "
        "hepinfer reads only those ROOT layouts (or its own parquet files)"
    )


def read_root(path: Path, chunk: int, entry_stop: int | None = None) -> Iterator[ak.Array]:
    """Chunks of event records from a HZZ or Zmumu ROOT file."""
    tree, name = root_tree(Path(path))
    branches, conv = converters()[name]
    try:
        for arrays in tree.iterate(branches, step_size=chunk, entry_stop=entry_stop, library="ak"):
            yield conv(arrays)  # type: ignore[operator]
    except Exception as err:
        raise DataError(
            f"{path}: reading the ROOT tree failed ({first_line(err)}): the file is damaged"
        ) from err
