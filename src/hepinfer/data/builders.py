"""Event records -> model inputs (numpy, float32), for event_vae, jet_vae and particlenet.

Units: event_vae takes energies and momenta in units of 100 GeV (as hepinfer.zoo.events);
jet_vae takes constituent pT in GeV (its fixed standardisation has sigma 14.9 GeV) and
(eta, phi) relative to the jet axis; particlenet takes the CMS ParticleNet-AK8 features.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from hepinfer.data.schema import delta_phi
from hepinfer.errors import DataError
from hepinfer.zoo.events import event_layout

GEV = 100.0  # event_vae's unit

# ParticleNet-AK8 (CMS, General V01) pf_features in order; FILLED are computed from
# constituents, the rest (track and vertex quantities generation does not simulate) are zero.
PF_FEATURES = (
    "pfcand_pt_log_nopuppi",
    "pfcand_e_log_nopuppi",
    "pfcand_etarel",
    "pfcand_phirel",
    "pfcand_isEl",
    "pfcand_isMu",
    "pfcand_isGamma",
    "pfcand_isChargedHad",
    "pfcand_isNeutralHad",
    "pfcand_abseta",
    "pfcand_charge",
    "pfcand_VTX_ass",
    "pfcand_lostInnerHits",
    "pfcand_normchi2",
    "pfcand_quality",
    "pfcand_dz",
    "pfcand_dzsig",
    "pfcand_dxy",
    "pfcand_dxysig",
    "pfcand_btagEtaRel",
    "pfcand_btagPtRatio",
    "pfcand_btagPParRatio",
    "pfcand_btagSip3dVal",
    "pfcand_btagSip3dSig",
    "pfcand_btagJetDistVal",
)
PF_FILLED = PF_FEATURES[:11]


def _pad(x: ak.Array, size: int) -> np.ndarray:
    """Jagged [n, var] -> [n, size] float32, truncated or zero-padded.

    Done on the flat content with numpy (a scatter through the list offsets): several times
    faster than ak.pad_none + ak.fill_none, which matters inside the timed preprocessing.
    """
    counts = ak.to_numpy(ak.num(x, axis=1)).astype(np.int64)
    flat = ak.to_numpy(ak.flatten(x, axis=1)).astype(np.float32)
    out = np.zeros((len(counts), size), np.float32)
    if len(flat) == 0:
        return out
    rows = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    local = np.arange(len(flat)) - np.repeat(starts, counts)
    keep = local < size
    out[rows[keep], local[keep]] = flat[keep]
    return out


def _flat(collection: ak.Array, fields: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Objects per event and each field's flat content (numpy)."""
    counts = ak.to_numpy(ak.num(collection, axis=1)).astype(np.int64)
    return counts, {f: ak.to_numpy(ak.flatten(collection[f], axis=1)) for f in fields}


def _scatter(
    out: np.ndarray,
    row0: int,
    slots: int,
    counts: np.ndarray,
    cols: Mapping[str, np.ndarray],
    keep: np.ndarray,
) -> None:
    """Write the kept objects of each event into rows row0.. of ``out`` [B,R,4], falling pT."""
    event = np.repeat(np.arange(len(counts)), counts)[keep]
    pt = cols["pt"][keep]
    order = np.lexsort((-pt, event))  # by event, then falling pT
    event = event[order]
    local = np.arange(len(event)) - np.searchsorted(event, event, side="left")
    ok = local < slots
    for k, (name, unit) in enumerate((("e", GEV), ("pt", GEV), ("eta", 1.0), ("phi", 1.0))):
        out[event[ok], row0 + local[ok], k] = cols[name][keep][order][ok] / unit


def event_vae_inputs(events: ak.Array, rows: int = 32) -> dict[str, np.ndarray]:
    """objects [B,1,R,4] as (E, pT, eta, phi), 100 GeV units, rows as event_layout(R); met [B,1].

    Works on the flat content with numpy (a sort and a scatter per group), which keeps the
    timed preprocessing of ``pipeline`` to tens of microseconds per event.
    """
    kin = ("e", "pt", "eta", "phi")
    jn, jets = _flat(events.jets, (*kin, "btag"))
    mn, mu = _flat(events.muons, (*kin, "charge"))
    en, el = _flat(events.electrons, (*kin, "charge"))
    pn, ph = _flat(events.photons, kin)
    btag = jets["btag"].astype(bool)
    groups = {
        "jet": (jn, jets, ~btag if rows >= 25 else np.ones_like(btag)),
        "bjet": (jn, jets, btag),
        "mu+": (mn, mu, mu["charge"] > 0),
        "mu-": (mn, mu, mu["charge"] < 0),
        "e+": (en, el, el["charge"] > 0),
        "e-": (en, el, el["charge"] < 0),
        "photon": (pn, ph, np.ones(len(ph["pt"]), bool)),
    }
    out = np.zeros((len(events), rows, 4), np.float32)
    row = 0
    for name, slots, _mean in event_layout(rows):
        counts, cols, keep = groups[name]
        _scatter(out, row, slots, counts, cols, keep)
        row += slots
    met = (ak.to_numpy(events.met).astype(np.float32) / GEV).reshape(-1, 1)
    return {"objects": out[:, None, :, :], "met": met}


def leading_fatjets(events: ak.Array, n_jets: int = 2) -> ak.Array:
    """The ``n_jets`` leading AK8 jets of each event, flattened to one row per jet."""
    fat = events.fatjets[:, :n_jets]
    return ak.flatten(fat, axis=1)


def _relative(jets: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array]:
    c = jets.constituents
    return c.eta - jets.eta, delta_phi(c.phi, jets.phi), c


def constituent_arrays(jets: ak.Array, particles: int = 100) -> dict[str, np.ndarray]:
    """Padded [J,P] arrays of the leading constituents: deta, dphi, pt, e, charge, pid, mask."""
    deta, dphi, c = _relative(jets)
    return {
        "deta": _pad(deta, particles),
        "dphi": _pad(dphi, particles),
        "pt": _pad(c.pt, particles),
        "e": _pad(c.e, particles),
        "charge": _pad(c.charge, particles),
        "pid": _pad(c.pid, particles),
        "mask": _pad(ak.ones_like(c.pt), particles),
    }


def jet_vae_inputs(jets: ak.Array, particles: int = 100) -> dict[str, np.ndarray]:
    """jet [J,100,3]: (deta, dphi, pT/GeV) of the leading constituents, zero-padded."""
    deta, dphi, c = _relative(jets)
    x = np.stack([_pad(deta, particles), _pad(dphi, particles), _pad(c.pt, particles)], axis=-1)
    return {"jet": np.ascontiguousarray(x, dtype=np.float32)}


def particlenet_inputs(jets: ak.Array, particles: int = 100, vertices: int = 7) -> dict[str, np.ndarray]:
    """pf_points [J,2,P] = (etarel, phirel), pf_features [J,25,P] (PF_FILLED filled, the rest
    0), pf_mask [J,1,P]; sv_* and sv_mask zero."""
    deta, dphi, c = _relative(jets)
    pid = abs(c.pid)
    charge = c.charge
    mask = _pad(ak.ones_like(c.pt), particles)
    # eta relative to the jet, flipped for jets at negative eta (as CMS does); also the points.
    etarel = _pad(deta * np.sign(jets.eta + 1e-12), particles)
    filled = {
        # CMS preprocessing: (log x - median) * norm, as in the ParticleNet-AK8 config.
        "pfcand_pt_log_nopuppi": (np.log(np.maximum(_pad(c.pt, particles), 1e-6)) - 1.0) * 0.5,
        "pfcand_e_log_nopuppi": (np.log(np.maximum(_pad(c.e, particles), 1e-6)) - 1.3) * 0.5,
        "pfcand_etarel": etarel,
        "pfcand_phirel": _pad(dphi, particles),
        "pfcand_isEl": _pad(pid == 11, particles),
        "pfcand_isMu": _pad(pid == 13, particles),
        "pfcand_isGamma": _pad(pid == 22, particles),
        "pfcand_isChargedHad": _pad((charge != 0) & (pid != 11) & (pid != 13), particles),
        "pfcand_isNeutralHad": _pad((charge == 0) & (pid != 22), particles),
        "pfcand_abseta": (_pad(abs(c.eta), particles) - 0.6) * 1.6,
        "pfcand_charge": _pad(charge, particles),
    }
    n = len(jets)
    features = np.zeros((n, len(PF_FEATURES), particles), np.float32)
    for i, name in enumerate(PF_FILLED):
        features[:, i, :] = filled[name]
    features *= mask[:, None, :]
    points = np.stack([etarel, filled["pfcand_phirel"]], axis=1)
    return {
        "pf_points": np.ascontiguousarray(points, dtype=np.float32),
        "pf_features": features,
        "pf_mask": mask[:, None, :].astype(np.float32),
        "sv_points": np.zeros((n, 2, vertices), np.float32),
        "sv_features": np.zeros((n, 11, vertices), np.float32),
        "sv_mask": np.zeros((n, 1, vertices), np.float32),
    }


def ak4_multiplicity(events: ak.Array, pt_min: float = 30.0, eta_max: float = 2.5) -> np.ndarray:
    """AK4 jets per event with pT > pt_min GeV and |eta| < eta_max (the jets-per-event scenario)."""
    j = events.jets
    return ak.to_numpy(ak.sum((j.pt > pt_min) & (abs(j.eta) < eta_max), axis=1)).astype(np.int64)


# Input names of each model family, to feed any model (zoo or ONNX file) with those names.
FAMILIES = {
    "event_vae": frozenset({"objects", "met"}),
    "jet_vae": frozenset({"jet"}),
    "particlenet": frozenset({"pf_points", "pf_features", "pf_mask", "sv_points", "sv_features", "sv_mask"}),
}


# The event fields each family reads (parquet column projection in the pipeline).
FIELDS = {
    "event_vae": ("jets", "muons", "electrons", "photons", "met"),
    "jet_vae": ("fatjets",),
    "particlenet": ("fatjets",),
}


def family_of(input_names: frozenset[str] | set[str]) -> str:
    """Which builder fits a model with these input names (raises DataError if none)."""
    for name, names in FAMILIES.items():
        if set(input_names) == names:
            return name
    known = "; ".join(f"{k}: {sorted(v)}" for k, v in FAMILIES.items())
    raise DataError(
        f"no event builder for a model with inputs {sorted(input_names)}: data inputs exist for {known}"
    )


def inputs_for(
    input_names: frozenset[str] | set[str], events: ak.Array, shapes: Mapping[str, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """Model inputs from events; one row per event (event_vae) or per leading AK8 jet (2 an event).

    ``shapes`` gives each input's shape without its batch axis (to read R, P, S from).
    """
    family = family_of(input_names)
    if family == "event_vae":
        return event_vae_inputs(events, rows=int(shapes["objects"][1]))
    jets = leading_fatjets(events)
    if family == "jet_vae":
        return jet_vae_inputs(jets, particles=int(shapes["jet"][0]))
    return particlenet_inputs(
        jets, particles=int(shapes["pf_points"][1]), vertices=int(shapes["sv_points"][1])
    )
