"""Generated events: Pythia 8 (pythia8mc 8.317) + fastjet, 13 TeV pp.

Processes:
- ``qcd``: HardQCD:all with pTHat > 600 GeV (dijets of mass ~1.2 TeV and up, the background
  of a 1.5 TeV dijet resonance search).
- ``graviton-narrow`` / ``graviton-broad``: an RS graviton G* of 1.5 TeV
  (gg and ffbar -> G*) decaying to W+W-, each W to quarks; the width forced to 1% (narrow)
  or 35% (broad) of the mass.

Per event, from the visible final state (neutrinos dropped, |eta| < 5): AK8 (anti-kt R=0.8,
pT > 200 GeV) jets with their constituents; AK4 (R=0.4, pT > 20 GeV) jets, b-tagged when a
B hadron (pT > 5 GeV) lies within dR < 0.4; isolated muons, electrons (pT > 10 GeV) and photons
(pT > 20 GeV) with |eta| < 2.5 and relative isolation (dR < 0.3) below 0.15; AK4 jets within
dR < 0.4 of those removed; MET from the visible transverse momentum balance. Stored as the
event record of ``hepinfer.data.schema``, in parquet, cached under the settings' digest.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from hepinfer._optional import require
from hepinfer.data.schema import delta_phi, make_events
from hepinfer.errors import ConfigurationError

GRAVITON_MASS = 1500.0
_COMMON = (
    "Beams:eCM = 13000.",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Init:showProcesses = off",
    "Init:showChangedSettings = off",
    "Init:showChangedParticleData = off",
    "Init:showMultipartonInteractions = off",
    "Print:quiet = on",
)
_GRAVITON = (
    "ExtraDimensionsG*:gg2G* = on",
    "ExtraDimensionsG*:ffbar2G* = on",
    f"5100039:m0 = {GRAVITON_MASS}",
    "5100039:onMode = off",
    "5100039:onIfAny = 24",
    "24:onMode = off",
    "24:onIfAny = 1 2 3 4 5",
    "5100039:doForceWidth = on",
)
PROCESSES: dict[str, tuple[str, ...]] = {
    "qcd": ("HardQCD:all = on", "PhaseSpace:pTHatMin = 600."),
    "graviton-narrow": (
        *_GRAVITON,
        f"5100039:mWidth = {0.01 * GRAVITON_MASS}",
        f"5100039:mMin = {0.8 * GRAVITON_MASS}",
        f"5100039:mMax = {1.2 * GRAVITON_MASS}",
    ),
    "graviton-broad": (
        *_GRAVITON,
        f"5100039:mWidth = {0.35 * GRAVITON_MASS}",
        "5100039:mMin = 500.",
        "5100039:mMax = 3000.",
    ),
}


@dataclass(frozen=True)
class Selection:
    """Object definitions (GeV); part of the cache key."""

    fat_r: float = 0.8
    fat_pt: float = 200.0
    jet_r: float = 0.4
    jet_pt: float = 20.0
    eta_max: float = 5.0
    b_hadron_pt: float = 5.0
    lepton_pt: float = 10.0
    photon_pt: float = 20.0
    lepton_eta: float = 2.5
    iso_r: float = 0.3
    iso_max: float = 0.15


def settings(process: str, seed: int) -> list[str]:
    """The Pythia settings of a process with a seed (1..900000000)."""
    if process not in PROCESSES:
        raise ConfigurationError(f"--process {process}: use one of {', '.join(PROCESSES)}")
    if not 0 <= seed <= 900_000_000:
        raise ConfigurationError(f"--seed {seed}: Pythia seeds lie in 0..900000000")
    return [*_COMMON, *PROCESSES[process], "Random:setSeed = on", f"Random:seed = {seed}"]


def _pythia(lines: list[str]) -> Any:

    pythia8mc = require("pythia8mc", "event generation")
    p = pythia8mc.Pythia("", False)
    for line in lines:
        if not p.readString(line):
            raise ConfigurationError(f"Pythia rejected the setting '{line}'")
    if not p.init():
        raise ConfigurationError("Pythia failed to initialise with the settings " + "; ".join(lines))
    return p


def _charges(pythia: Any, ids: np.ndarray) -> np.ndarray:
    """Electric charge of each PDG id (from Pythia's particle data)."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    table = np.array([pythia.particleData.charge(int(i)) for i in uniq], dtype=np.float32)
    return table[inverse]


def _nested_dr(a: ak.Array, b: ak.Array) -> ak.Array:
    """dR between each of a's objects and each of b's: [event, a, b]."""
    pa, pb = ak.unzip(ak.cartesian([a, b], axis=1, nested=True))
    return np.hypot(pa.eta - pb.eta, delta_phi(pa.phi, pb.phi))


def _sorted_jets(cs: Any, min_pt: float) -> tuple[ak.Array, ak.Array]:
    """Inclusive jets of a cluster sequence and their constituent indices, by falling pT."""
    jets = cs.inclusive_jets(min_pt=min_pt)
    index = cs.constituent_index(min_pt=min_pt)
    order = ak.argsort(np.hypot(jets.px, jets.py), axis=1, ascending=False)
    return jets[order], index[order]


def _kin(px: ak.Array, py: ak.Array, pz: ak.Array, e: ak.Array) -> dict[str, ak.Array]:
    pt = np.hypot(px, py)
    return {
        "pt": pt,
        "eta": np.arcsinh(pz / np.maximum(pt, 1e-9)),
        "phi": np.arctan2(py, px),
        "e": e,
    }


def _visible_particles(batch: ak.Array, pythia: Any, sel: Selection) -> ak.Array:
    """The visible final state within |eta| < eta_max: neutrinos and BSM invisibles dropped."""
    prt = batch.prt
    final = prt[prt.status > 0]
    aid = abs(final.id)
    pt_all = np.hypot(final.p.px, final.p.py)
    visible = (aid != 12) & (aid != 14) & (aid != 16) & (aid < 1_000_000) & (pt_all > 1e-6)
    vis = final[visible]
    kin = _kin(vis.p.px, vis.p.py, vis.p.pz, vis.p.e)
    counts = ak.num(vis.id)
    charge = ak.unflatten(_charges(pythia, ak.to_numpy(ak.flatten(vis.id))), counts)
    part = ak.zip({**kin, "charge": charge, "pid": vis.id, "px": vis.p.px, "py": vis.p.py, "pz": vis.p.pz})
    return part[abs(part.eta) < sel.eta_max]


def _fat_jets(fastjet: Any, four: ak.Array, part: ak.Array, sel: Selection) -> ak.Array:
    """AK8 jets with their constituents (each by falling pT)."""
    cs8 = fastjet.ClusterSequence(four, fastjet.JetDefinition(fastjet.antikt_algorithm, sel.fat_r))
    fj, fidx = _sorted_jets(cs8, sel.fat_pt)
    flat = ak.flatten(fidx, axis=2)
    cons = part[flat]
    cons = ak.unflatten(ak.flatten(cons), ak.flatten(ak.num(fidx, axis=2)))
    cons = ak.unflatten(cons, ak.num(fidx, axis=1))
    cons = cons[ak.argsort(cons.pt, axis=2, ascending=False)]
    constituents = ak.zip(
        {f: ak.values_astype(cons[f], np.float32) for f in ("pt", "eta", "phi", "e", "charge", "pid")}
    )
    fk = _kin(fj.px, fj.py, fj.pz, fj.E)
    m = np.sqrt(np.maximum(fj.E**2 - fj.px**2 - fj.py**2 - fj.pz**2, 0.0))
    return ak.zip(
        {
            **{k: ak.values_astype(v, np.float32) for k, v in fk.items()},
            "m": ak.values_astype(m, np.float32),
            "constituents": constituents,
        },
        depth_limit=2,
    )


def _isolated(part: ak.Array, mask: ak.Array, sel: Selection) -> ak.Array:
    """The particles of ``mask`` whose other visible pT within iso_r is below iso_max of theirs."""
    cand = part[mask]
    dr = _nested_dr(cand, part)
    pts = ak.broadcast_arrays(cand.pt[:, :, None], part.pt[:, None, :])[1]
    cone = ak.sum(ak.where(dr < sel.iso_r, pts, 0.0), axis=2) - cand.pt
    return cand[cone < sel.iso_max * cand.pt]


def _small_jets(
    fastjet: Any, four: ak.Array, prt: ak.Array, isolated: list[ak.Array], sel: Selection
) -> ak.Array:
    """AK4 jets: b-tagged by B hadrons, those near an isolated lepton or photon removed."""
    cs4 = fastjet.ClusterSequence(four, fastjet.JetDefinition(fastjet.antikt_algorithm, sel.jet_r))
    j4, _ = _sorted_jets(cs4, sel.jet_pt)
    jets = ak.zip(_kin(j4.px, j4.py, j4.pz, j4.E))
    aall = abs(prt.id)
    is_b = ((aall // 100) % 10 == 5) | ((aall // 1000) % 10 == 5)
    bh = prt[is_b & (aall < 10_000)]
    bh = ak.zip(_kin(bh.p.px, bh.p.py, bh.p.pz, bh.p.e))
    bh = bh[bh.pt > sel.b_hadron_pt]
    btag = ak.any(_nested_dr(jets, bh) < sel.jet_r, axis=2)
    jets = ak.with_field(jets, btag, "btag")
    others = ak.concatenate([o[["pt", "eta", "phi"]] for o in isolated], axis=1)
    overlap = ak.any(_nested_dr(jets, others) < sel.jet_r, axis=2)
    return jets[~overlap]


def _fields(o: ak.Array, fields: tuple[str, ...], cast: dict[str, Any]) -> ak.Array:
    """The named fields of ``o`` as float32, or as the type ``cast`` names for that field."""
    return ak.zip({f: ak.values_astype(o[f], cast.get(f, np.float32)) for f in fields})


def process_batch(batch: ak.Array, pythia: Any, sel: Selection) -> ak.Array:
    """Pythia's batch of events (nextBatch) -> event records."""
    fastjet = require("fastjet", "jet clustering")

    part = _visible_particles(batch, pythia, sel)
    four = ak.zip({"px": part.px, "py": part.py, "pz": part.pz, "E": part.e})
    fatjets = _fat_jets(fastjet, four, part, sel)

    central = abs(part.eta) < sel.lepton_eta
    apid = abs(part.pid)
    muons = _isolated(part, central & (apid == 13) & (part.pt > sel.lepton_pt), sel)
    electrons = _isolated(part, central & (apid == 11) & (part.pt > sel.lepton_pt), sel)
    photons = _isolated(part, central & (apid == 22) & (part.pt > sel.photon_pt), sel)
    jets = _small_jets(fastjet, four, batch.prt, [muons, electrons, photons], sel)

    mpx, mpy = -ak.sum(part.px, axis=1), -ak.sum(part.py, axis=1)
    return make_events(
        {
            "jets": _fields(jets, ("pt", "eta", "phi", "e", "btag"), {"btag": bool}),
            "muons": _fields(muons, ("pt", "eta", "phi", "e", "charge"), {"charge": np.int32}),
            "electrons": _fields(electrons, ("pt", "eta", "phi", "e", "charge"), {"charge": np.int32}),
            "photons": _fields(photons, ("pt", "eta", "phi", "e"), {}),
            "met": ak.values_astype(np.hypot(mpx, mpy), np.float32),
            "met_phi": ak.values_astype(np.arctan2(mpy, mpx), np.float32),
            "fatjets": fatjets,
        }
    )


Progress = Callable[[int, int], None]


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what C++ code prints to file descriptor 1 to descriptor 2 for a while."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no descriptor 1 (embedded interpreters): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def generate(
    process: str,
    events: int,
    seed: int,
    sel: Selection | None = None,
    progress: Progress | None = None,
    chunk: int = 50,
) -> ak.Array:
    """``events`` event records of a process; the same seed gives the same events."""
    if events < 1:
        raise ConfigurationError(f"--events {events}: generate at least 1 event")
    sel = sel or Selection()
    out = []
    done = 0
    with _stdout_to_stderr():  # Pythia's and FastJet's banners, not the command's output
        pythia = _pythia(settings(process, seed))
        while done < events:
            n = min(chunk, events - done)
            batch = pythia.nextBatch(n)
            out.append(process_batch(batch, pythia, sel))
            done += len(batch)
            if progress is not None:
                progress(done, events)
    result = ak.concatenate(out) if len(out) > 1 else out[0]
    return result[:events]


def cache_metadata(process: str, events: int, seed: int, sel: Selection) -> dict[str, Any]:
    """Everything the events depend on: the cache key is its digest."""
    from importlib.metadata import version

    return {
        "source": "pythia8",
        "process": process,
        "events": events,
        "seed": seed,
        "pythia_settings": settings(process, seed),
        "selection": asdict(sel),
        "versions": {p: version(p) for p in ("pythia8mc", "fastjet", "awkward")},
        "generator_version": 1,
    }


def cached(
    process: str,
    events: int,
    seed: int,
    out: Path | None = None,
    sel: Selection | None = None,
    progress: Progress | None = None,
) -> tuple[Path, bool]:
    """The parquet file of these events, generated unless cached; returns (path, was_cached)."""
    from hepinfer.cache import cache_dir, digest
    from hepinfer.data import store

    sel = sel or Selection()
    meta = cache_metadata(process, events, seed, sel)
    key = digest(meta)
    path = (
        Path(out) if out is not None else cache_dir() / "events" / f"{process}-{events}-s{seed}-{key}.parquet"
    )
    if path.exists():
        try:
            if store.metadata(path).get("key") == key:
                return path, True
        except Exception:  # damaged or foreign: regenerate
            pass
    t0 = time.perf_counter()
    evts = generate(process, events, seed, sel, progress)
    meta["key"] = key
    meta["generation_s"] = round(time.perf_counter() - t0, 2)
    store.write(evts, path, meta)
    return path, False
