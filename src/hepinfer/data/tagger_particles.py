"""One generated AK8 jet as the CMS taggers' inputs see it: its particles, subjets, and the
track and vertex quantities generation lacks (``hepinfer.data.taggers`` encodes them).

From the events (Pythia 8 + fastjet, ``hepinfer.data.generate``): the jets and their
constituents above ``pt_min``, in falling pT, with their angles to the jet axis and the
distance of each to the jet's two subjets (a pT-weighted 2-means in (eta, phi), seeded at the
two hardest constituents). Drawn, seeded, from physical distributions: impact parameters of
charged particles are Gaussian (dxy 20 um, dz 50 um; 10% from a displaced component of
300 um, as from heavy-flavour decays), their significances those values over the same
resolutions, chi2/ndf from a Gamma of mean 1; secondary vertices are Poisson(0.7) per jet
with mass, flight distance and significance log-normal around CMS's medians.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepinfer.data.schema import delta_phi

DXY_RES, DZ_RES = 0.002, 0.005  # cm: the resolutions impact parameters are drawn with


def subjet_dr(deta: np.ndarray, dphi: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dR of each particle to two subjet axes (pT-weighted 2-means, hardest-first seeds)."""
    if len(pt) < 2:
        dr = np.hypot(deta, dphi)
        return dr, dr
    axes = np.stack([[deta[0], dphi[0]], [deta[1], dphi[1]]])
    points = np.stack([deta, dphi], axis=1)
    for _ in range(5):
        d = np.linalg.norm(points[:, None, :] - axes[None, :, :], axis=2)
        near = np.argmin(d, axis=1)
        for k in range(2):
            w = pt * (near == k)
            if w.sum() > 0:
                axes[k] = (points * w[:, None]).sum(0) / w.sum()
    d = np.linalg.norm(points[:, None, :] - axes[None, :, :], axis=2)
    return d[:, 0], d[:, 1]


def drawn_tracks(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Drawn impact parameters (cm) and significances of n charged particles."""
    displaced = rng.random(n) < 0.1
    dxy = rng.normal(0, DXY_RES, n) + displaced * rng.normal(0, 0.03, n)
    dz = rng.normal(0, DZ_RES, n) + displaced * rng.normal(0, 0.03, n)
    sign = np.where(rng.random(n) < 0.7, 1.0, -1.0)  # lifetime-signed: mostly positive
    sip2d = sign * np.abs(dxy)
    sip3d = sign * np.hypot(dxy, dz)
    return {
        "dxy": dxy,
        "dz": dz,
        "dxysig": dxy / DXY_RES,
        "dzsig": dz / DZ_RES,
        "sip2d": sip2d,
        "sip2dsig": sip2d / DXY_RES,
        "sip3d": sip3d,
        "sip3dsig": sip3d / np.hypot(DXY_RES, DZ_RES),
        "jetdist": -np.abs(rng.normal(0, 0.0005, n)),
        "normchi2": rng.gamma(2.0, 0.5, n),
    }


def drawn_vertices(rng: np.random.Generator, jet_pt: float, jet_e: float, most: int) -> dict[str, np.ndarray]:
    """Drawn secondary vertices of one jet, in falling flight-distance significance."""
    n = min(int(rng.poisson(0.7)), most)
    frac = rng.uniform(0.02, 0.2, n)
    d2 = 0.39 * rng.lognormal(0, 0.8, n)
    sig = d2 / (0.04 * rng.lognormal(0, 0.3, n))
    order = np.argsort(-sig)
    etarel, phirel = rng.normal(0, 0.08, n), rng.normal(0, 0.08, n)
    out = {
        "pt": jet_pt * frac,
        "e": jet_e * frac * rng.uniform(0.9, 1.1, n),
        "etarel": etarel,
        "phirel": phirel,
        "deltaR": np.hypot(etarel, phirel),
        "mass": 1.34 * rng.lognormal(0, 0.5, n),
        "ntracks": 2 + rng.poisson(1.0, n).astype(np.float64),
        "chi2": rng.gamma(2.0, 1.0, n),
        "dxy": d2,
        "dxysig": sig,
        "d3d": d2 * 1.3,
        "d3dsig": sig * 1.2,
        "costhetasvpv": 1 - np.abs(rng.normal(0, 0.002, n)),
    }
    out["normchi2"] = out["chi2"] / np.maximum(2 * out["ntracks"] - 3, 1)
    return {k: v[order] for k, v in out.items()}


def jet_particles(jet: ak.Record, pt_min: float, cone: float | None = None) -> dict[str, np.ndarray]:
    """One jet's constituents above pt_min (within ``cone`` of the axis), in falling pT."""
    c = jet.constituents
    pt = ak.to_numpy(c.pt).astype(np.float64)
    deta = ak.to_numpy(c.eta).astype(np.float64) - float(jet.eta)
    dphi = np.asarray(delta_phi(ak.to_numpy(c.phi).astype(np.float64), float(jet.phi)))
    keep = pt > pt_min
    if cone is not None:
        keep &= np.hypot(deta, dphi) < cone
    order = np.argsort(-pt[keep], kind="stable")
    cols = {
        "pt": pt,
        "deta": deta,
        "dphi": dphi,
        "e": ak.to_numpy(c.e).astype(np.float64),
        "eta": ak.to_numpy(c.eta).astype(np.float64),
        "charge": ak.to_numpy(c.charge).astype(np.float64),
        "pid": np.abs(ak.to_numpy(c.pid)).astype(np.int64),
    }
    return {k: v[keep][order] for k, v in cols.items()}


def axis_angles(p: dict[str, np.ndarray], jet_eta: float) -> dict[str, np.ndarray]:
    """Angle of each particle to the jet's 3-momentum and the b-tag ratios made from it."""
    eta = p["eta"]
    theta_p = 2 * np.arctan(np.exp(-eta))
    theta_j = 2 * np.arctan(np.exp(-jet_eta))
    cos = np.sin(theta_p) * np.sin(theta_j) * np.cos(p["dphi"]) + np.cos(theta_p) * np.cos(theta_j)
    angle = np.arccos(np.clip(cos, -1, 1))
    return {
        "angle": angle,
        "etarel": -np.log(np.tan(np.maximum(angle, 1e-6) / 2)),
        "ptratio": np.sin(angle),
        "ppar_ratio": np.cos(angle),
    }


def particle_counts(jets: ak.Array, pt_min: float = 1.0, cone: float | None = None) -> np.ndarray:
    """Particles per jet above ``pt_min`` (within ``cone``): the multiplicity the inputs hold."""
    return np.array([len(jet_particles(j, pt_min, cone)["pt"]) for j in jets], np.int64)


def charged_tracks(
    rng: np.random.Generator, p: dict[str, np.ndarray], jet_eta: float
) -> dict[str, np.ndarray]:
    """The b-tag track features of a jet's charged particles, falling 2D IP significance."""
    charged = p["charge"] != 0
    q = {k: v[charged] for k, v in p.items()}
    t = drawn_tracks(rng, len(q["pt"]))
    a = axis_angles(q, jet_eta)
    order = np.argsort(-t["sip2dsig"], kind="stable")
    out = {**t, **a, "pt": q["pt"], "deta": q["deta"], "dphi": q["dphi"]}
    return {k: v[order] for k, v in out.items()}
