"""Seeded inputs of the second-round zoo models (numpy only): L1 trigger objects, and jets as
graph_vae and particle_transformer read them."""

from __future__ import annotations

import numpy as np

from hepinfer.zoo.builders import _features, particles

# The L1 objects in the order the model reads them, with how many of each there are.
L1_LAYOUT: tuple[tuple[str, int], ...] = (("met", 1), ("egamma", 4), ("muon", 4), ("jet", 10))
# Hardware units: pT in 0.5 GeV steps, presented to the network shifted right by 4 bits (a
# fixed power-of-two factor: exact in fixed point); eta and phi on the calorimeter's grid.
PT_LSB_GEV = 0.5
PT_SCALE = 1.0 / 16.0
ETA_LSB = 0.0435
PHI_LSB = 2.0 * np.pi / 144.0
# Mean multiplicities per event (Poisson) and pT spectra (GeV: minimum, power-law index).
_MEAN = {"egamma": 1.2, "muon": 0.4, "jet": 4.5}
_SPECTRUM = {"egamma": (5.0, 2.5), "muon": (3.0, 2.5), "jet": (20.0, 2.0)}
_ETA_MAX = {"egamma": 2.5, "muon": 2.4, "jet": 4.7}


def l1_pt(gev: np.ndarray) -> np.ndarray:
    """pT in GeV as the network sees it: integer hardware counts times the fixed scale."""
    return np.floor(gev / PT_LSB_GEV) * PT_SCALE


def l1_objects(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """'objects' [B,57]: 19 L1 objects x (pT, eta, phi), MET first (eta 0), absent objects 0.

    Multiplicities are Poisson (e/gamma 1.2, muons 0.4, jets 4.5 per event, capped at the
    slots); objects of a kind are sorted by falling pT; pT, eta and phi are quantised to the
    hardware's steps.
    """
    out = np.zeros((batch, 19, 3), dtype=np.float64)
    met = rng.gamma(2.0, 12.0, batch)
    out[:, 0, 0] = l1_pt(met)
    out[:, 0, 2] = np.round(rng.uniform(-np.pi, np.pi, batch) / PHI_LSB) * PHI_LSB
    slot = 1
    for kind, cap in L1_LAYOUT[1:]:
        n = np.minimum(rng.poisson(_MEAN[kind], batch), cap)
        minimum, index = _SPECTRUM[kind]
        pt = minimum * rng.uniform(1e-3, 1.0, (batch, cap)) ** (-1.0 / index)
        pt = -np.sort(-np.minimum(pt, 1000.0), axis=1)
        eta = np.round(rng.uniform(-_ETA_MAX[kind], _ETA_MAX[kind], (batch, cap)) / ETA_LSB) * ETA_LSB
        phi = np.round(rng.uniform(-np.pi, np.pi, (batch, cap)) / PHI_LSB) * PHI_LSB
        real = np.arange(cap)[None, :] < n[:, None]
        block = np.stack([l1_pt(pt), eta, phi], axis=-1) * real[..., None]
        out[:, slot : slot + cap] = block
        slot += cap
    return {"objects": out.reshape(batch, 57).astype(np.float32)}


def graph_vae(rng: np.random.Generator, batch: int, n_particles: int) -> dict[str, np.ndarray]:
    """'particles' [B,P,3] = (eta, phi, pT in GeV) by falling pT, zero-padded, and 'mask' [B,P]."""
    p = particles(rng, batch, n_particles, 0.8, minimum=0.5)
    return {
        "particles": np.stack([p.deta, p.dphi, p.pt], axis=-1).astype(np.float32),
        "mask": p.mask.astype(np.float32),
    }


def particle_transformer(
    rng: np.random.Generator, batch: int, n_particles: int, features: int
) -> dict[str, np.ndarray]:
    """ParT's inputs: 'pf_features' [B,F,P], 'pf_vectors' [B,4,P] (px, py, pz, E in GeV of
    massless particles around a jet axis) and 'pf_mask' [B,1,P]; zero on the padding."""
    p = particles(rng, batch, n_particles, 0.8)
    axis_eta = rng.uniform(-2.0, 2.0, (batch, 1))
    axis_phi = rng.uniform(-np.pi, np.pi, (batch, 1))
    eta, phi = axis_eta + p.deta, axis_phi + p.dphi
    vectors = np.stack(
        [p.pt * np.cos(phi), p.pt * np.sin(phi), p.pt * np.sinh(eta), p.pt * np.cosh(eta)], axis=1
    ) * p.mask[:, None, :]  # fmt: skip
    return {
        "pf_features": _features(rng, p, features),
        "pf_vectors": vectors.astype(np.float32),
        "pf_mask": p.mask[:, None, :].astype(np.float32),
    }
