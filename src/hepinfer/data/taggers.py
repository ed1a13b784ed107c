"""Generated AK8 jets -> the inputs of the CMS originals (DeepAK8, DeepDoubleB 94X, DeepJet V01),
padded as CMSSW pads them, for agreement checks on inputs like a tagger sees.

What comes from the events (Pythia 8 + fastjet, ``hepinfer.data.generate``): the jets and
their constituents, so the particle multiplicity and every kinematic feature (log pT, pT and E
relative to the jet, eta/phi relative to the axis, dR, |eta|, charge, particle type) and the
distance of each particle to the jet's two subjets. Generation has no tracker, so the track
quantities are drawn, seeded, from physical distributions: impact parameters and their
significances, chi2/ndf and the secondary vertices in ``hepinfer.data.tagger_particles`` (which
says how), high-purity quality and the covariance entries at CMS's medians times a log-normal
spread here.
Particles are those with pT > ``pt_min`` (1 GeV: the PF/PUPPI threshold that gives 10-60 of
DeepAK8's 100 slots for most jets).

DeepAK8 takes CMSSW's standardised values ``(x - median) * norm_factor`` clipped to [-5, 5]
(``pfDeepBoostedJetPreprocessParams``, V02), with zeros in the padded slots after
standardisation; DeepDoubleB and DeepJet take raw values (their graphs begin with
BatchNormalization layers on each input), zero-padded.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from hepinfer.data.deepak8_params import DEEPAK8_PF, DEEPAK8_SV
from hepinfer.data.tagger_particles import (
    axis_angles,
    charged_tracks,
    drawn_tracks,
    drawn_vertices,
    jet_particles,
    subjet_dr,
)


def _standardise(x: np.ndarray, median: float, norm: float) -> np.ndarray:
    return np.clip((x - median) * norm, -5.0, 5.0)


# --- DeepAK8 V02 -----------------------------------------------------------------------------


def deepak8_inputs(
    jets: ak.Array, seed: int = 0, pt_min: float = 1.0, particles: int = 100, vertices: int = 7
) -> dict[str, np.ndarray]:
    """pfcand [J,42,100,1] and sv [J,15,7,1], standardised and padded as CMSSW does."""
    rng = np.random.default_rng(seed)
    pf = np.zeros((len(jets), len(DEEPAK8_PF), particles, 1), np.float32)
    sv = np.zeros((len(jets), len(DEEPAK8_SV), vertices, 1), np.float32)
    for j, jet in enumerate(jets):
        p = jet_particles(jet, pt_min)
        n = min(len(p["pt"]), particles)
        p = {k: v[:n] for k, v in p.items()}
        s = drawn_vertices(rng, float(jet.pt), float(jet.e), vertices)
        raw = _deepak8_particle_features(rng, p, s, jet)
        for i, (name, median, norm) in enumerate(DEEPAK8_PF):
            pf[j, i, :n, 0] = _standardise(raw[name], median, norm)
        svraw = _deepak8_vertex_features(s, jet)
        for i, (name, median, norm) in enumerate(DEEPAK8_SV):
            sv[j, i, : len(s["pt"]), 0] = _standardise(svraw[name], median, norm)
    return {"pfcand": pf, "sv": sv}


def _deepak8_particle_features(
    rng: np.random.Generator, p: dict[str, np.ndarray], s: dict[str, np.ndarray], jet: Any
) -> dict[str, np.ndarray]:
    """DeepAK8's 42 raw particle features of one jet's (kept) particles ``p``, its vertices ``s``."""
    n = len(p["pt"])
    jet_pt, jet_e, jet_eta = float(jet.pt), float(jet.e), float(jet.eta)
    charged = p["charge"] != 0
    t = drawn_tracks(rng, n)
    zero = np.zeros(n)
    on = charged.astype(np.float64)
    a = axis_angles(p, jet_eta)
    sub1, sub2 = subjet_dr(p["deta"], p["dphi"], p["pt"])
    dr_sv = np.full(n, 0.8)
    for k in range(len(s["pt"])):
        dr_sv = np.minimum(dr_sv, np.hypot(p["deta"] - s["etarel"][k], p["dphi"] - s["phirel"][k]))
    flip = np.sign(jet_eta) or 1.0
    spread = rng.lognormal(0, 0.5, (7, n))
    raw = {
        "pfcand_pt_log": np.log(p["pt"]),
        "pfcand_ptrel_log": np.log(p["pt"] / jet_pt),
        "pfcand_erel_log": np.log(p["e"] / jet_e),
        "pfcand_phirel": p["dphi"],
        "pfcand_etarel": p["deta"] * flip,
        "pfcand_deltaR": np.hypot(p["deta"], p["dphi"]),
        "pfcand_abseta": np.abs(p["eta"]),
        "pfcand_puppiw": np.ones(n),
        "pfcand_drminsv": dr_sv,
        "pfcand_drsubjet1": sub1,
        "pfcand_drsubjet2": sub2,
        "pfcand_charge": p["charge"],
        "pfcand_isMu": (p["pid"] == 13).astype(np.float64),
        "pfcand_isEl": (p["pid"] == 11).astype(np.float64),
        "pfcand_isChargedHad": (charged & (p["pid"] != 11) & (p["pid"] != 13)).astype(np.float64),
        "pfcand_isGamma": (p["pid"] == 22).astype(np.float64),
        "pfcand_isNeutralHad": (~charged & (p["pid"] != 22)).astype(np.float64),
        "pfcand_hcalFrac": (~charged & (p["pid"] != 22)).astype(np.float64),
        "pfcand_VTX_ass": 7 * on,
        "pfcand_lostInnerHits": -on,
        # CMSSW's no-track defaults on neutrals: chi2 999, quality 0, impact parameters 0.
        "pfcand_normchi2": np.where(charged, t["normchi2"], 999.0),
        "pfcand_quality": 5 * on,
        "pfcand_dz": t["dz"] * on,
        "pfcand_dzsig": t["dzsig"] * on,
        "pfcand_dxy": t["dxy"] * on,
        "pfcand_dxysig": t["dxysig"] * on,
        "pfcand_btagEtaRel": a["etarel"] * on,
        "pfcand_btagPtRatio": a["ptratio"] * on,
        "pfcand_btagPParRatio": a["ppar_ratio"] * on,
        "pfcand_btagSip2dVal": t["sip2d"] * on,
        "pfcand_btagSip2dSig": t["sip2dsig"] * on,
        "pfcand_btagSip3dVal": t["sip3d"] * on,
        "pfcand_btagSip3dSig": t["sip3dsig"] * on,
        "pfcand_btagJetDistVal": t["jetdist"] * on,
    }
    covariances = [f[0] for f in DEEPAK8_PF[26:34]]
    for k, name in enumerate(covariances):
        median = next(m for nm, m, _ in DEEPAK8_PF if nm == name)
        raw[name] = median * (spread[k % 7] if median else zero) * on
    return raw


def _deepak8_vertex_features(s: dict[str, np.ndarray], jet: Any) -> dict[str, np.ndarray]:
    """DeepAK8's 15 raw features of one jet's secondary vertices ``s``."""
    jet_pt, jet_e, jet_eta = float(jet.pt), float(jet.e), float(jet.eta)
    flip = np.sign(jet_eta) or 1.0
    return {
        "sv_pt_log": np.log(s["pt"]),
        "sv_ptrel_log": np.log(s["pt"] / jet_pt),
        "sv_erel_log": np.log(s["e"] / jet_e),
        "sv_phirel": s["phirel"],
        "sv_etarel": s["etarel"] * flip,
        "sv_deltaR": s["deltaR"],
        "sv_abseta": np.abs(jet_eta + s["etarel"]),
        "sv_mass": s["mass"],
        "sv_ntracks": s["ntracks"],
        "sv_normchi2": s["normchi2"],
        "sv_dxy": s["dxy"],
        "sv_dxysig": s["dxysig"],
        "sv_d3d": s["d3d"],
        "sv_d3dsig": s["d3dsig"],
        "sv_costhetasvpv": s["costhetasvpv"],
    }


# --- DeepDoubleB 94X -------------------------------------------------------------------------


def deepdoubleb_inputs(jets: ak.Array, seed: int = 0, pt_min: float = 1.0) -> dict[str, np.ndarray]:
    """DeepDoubleB 94X: input_1 [J,1,27] (the double-b variables), input_2 [J,60,8] (charged
    particles' b-tag track features), input_3 [J,5,2] (SV d3d, d3d significance); raw values."""
    rng = np.random.default_rng(seed)
    db = np.zeros((len(jets), 1, 27), np.float32)
    cpf = np.zeros((len(jets), 60, 8), np.float32)
    svs = np.zeros((len(jets), 5, 2), np.float32)
    for j, jet in enumerate(jets):
        p = jet_particles(jet, pt_min)
        c = charged_tracks(rng, p, float(jet.eta))
        s = drawn_vertices(rng, float(jet.pt), float(jet.e), 5)
        n, m = min(len(c["pt"]), 60), len(s["pt"])
        block = np.stack(
            [
                c["etarel"],
                c["ptratio"],
                c["ppar_ratio"],
                c["sip2d"],
                c["sip2dsig"],
                c["sip3d"],
                c["sip3dsig"],
                c["jetdist"],
            ],
            axis=1,
        )
        cpf[j, :n] = block[:n]
        svs[j, :m] = np.stack([s["d3d"], s["d3dsig"]], axis=1)
        db[j, 0] = _double_b_variables(c, s, jet)
    return {"input_1": db, "input_2": cpf, "input_3": svs}


def _double_b_variables(c: dict[str, np.ndarray], s: dict[str, np.ndarray], jet: Any) -> list[float]:
    """The 27 double-b variables of one jet from its charged tracks ``c`` and vertices ``s``."""
    m = len(s["pt"])
    sig3 = np.sort(c["sip3dsig"])[::-1]
    sip = np.concatenate([sig3, np.full(4, -50.0)])[:4]  # CMSSW's default for missing tracks
    eta_rel = np.concatenate([np.sort(c["etarel"]), np.zeros(6)])
    sig2 = np.concatenate([np.sort(c["sip2dsig"])[::-1], np.full(2, -19.0)])
    mass = np.concatenate([s["mass"], np.zeros(2)])
    ratio = np.concatenate([s["e"] / float(jet.e) * 3, np.zeros(2)])
    fd = np.concatenate([np.log1p(s["dxysig"]), np.zeros(2)])
    return [
        len(c["pt"]),  # jetNTracks
        m,  # nSV
        *eta_rel[:3],  # tau1_trackEtaRel_0..2
        *eta_rel[3:6],  # tau2_trackEtaRel_0..2
        fd[0],  # tau1_flightDistance2dSig
        fd[1],  # tau2_flightDistance2dSig
        s["deltaR"][0] if m else -1.0,  # tau1_vertexDeltaR
        ratio[0],  # tau1_vertexEnergyRatio
        ratio[1],  # tau2_vertexEnergyRatio
        mass[0],  # tau1_vertexMass
        mass[1],  # tau2_vertexMass
        sig2[0],  # trackSip2dSigAboveBottom_0
        sig2[1],  # trackSip2dSigAboveBottom_1
        sig2[1] * 0.5,  # trackSip2dSigAboveCharm
        *sip,  # trackSip3dSig_0..3
        sip[0],  # tau1_trackSip3dSig_0
        sip[2],  # tau1_trackSip3dSig_1
        sip[1],  # tau2_trackSip3dSig_0
        sip[3],  # tau2_trackSip3dSig_1
        s["deltaR"][0] * float(jet.pt) / max(float(jet.m), 1.0) if m else 0.0,  # z_ratio
    ]


# --- DeepJet V01 -----------------------------------------------------------------------------


def deepjet_inputs(
    jets: ak.Array, seed: int = 0, pt_min: float = 1.0, cone: float = 0.4
) -> dict[str, np.ndarray]:
    """DeepJet V01 on the core (dR < ``cone``) of each AK8 jet taken as an AK4 jet:
    input_1 [J,15] globals, input_2 [J,25,16] charged, input_3 [J,25,6] neutral, input_4
    [J,4,12] SVs, input_5 [J,1] the jet pT (its regression input); raw values, zero-padded."""
    rng = np.random.default_rng(seed)
    n_jets = len(jets)
    glob = np.zeros((n_jets, 15), np.float32)
    cpf = np.zeros((n_jets, 25, 16), np.float32)
    npf = np.zeros((n_jets, 25, 6), np.float32)
    svs = np.zeros((n_jets, 4, 12), np.float32)
    reg = np.zeros((n_jets, 1), np.float32)
    for j, jet in enumerate(jets):
        p = jet_particles(jet, pt_min, cone)
        jet_eta = float(jet.eta)
        jet_pt = float(p["pt"].sum()) if len(p["pt"]) else float(jet.pt)
        c = charged_tracks(rng, p, jet_eta)
        s = drawn_vertices(rng, jet_pt, jet_pt * np.cosh(jet_eta), 4)
        nc, m = min(len(c["pt"]), 25), len(s["pt"])
        neutral = p["charge"] == 0
        nn = min(int(neutral.sum()), 25)
        cpf[j, :nc] = _deepjet_charged(c, jet_pt, jet_eta)[:nc]
        npf[j, :nn] = _deepjet_neutral({k: v[neutral][:nn] for k, v in p.items()}, jet_pt)
        if m:
            svs[j, :m] = _deepjet_vertices(s, jet_pt)
        glob[j] = _deepjet_globals(rng, c, m, int(neutral.sum()), jet_pt, jet_eta)
        reg[j, 0] = jet_pt
    return {"input_1": glob, "input_2": cpf, "input_3": npf, "input_4": svs, "input_5": reg}


def _deepjet_charged(c: dict[str, np.ndarray], jet_pt: float, jet_eta: float) -> np.ndarray:
    """DeepJet's 16 features of each charged track ``c`` of one jet, [tracks, 16]."""
    dr_c = np.hypot(c["deta"], c["dphi"])
    return np.stack(
        [
            c["etarel"],
            c["ptratio"] * c["pt"] * np.cosh(jet_eta),  # trackPtRel (GeV)
            c["ppar_ratio"] * c["pt"] * np.cosh(jet_eta),  # trackPPar (GeV)
            dr_c,
            c["ppar_ratio"],
            c["sip2d"],
            c["sip2dsig"],
            c["sip3d"],
            c["sip3dsig"],
            c["jetdist"],
            c["pt"] / jet_pt,  # ptrel
            np.full(len(dr_c), 0.4),  # drminsv: no SV nearer than the cone
            np.full(len(dr_c), 7.0),  # VTX_ass
            np.ones(len(dr_c)),  # puppiw
            c["normchi2"],
            np.full(len(dr_c), 5.0),  # quality: high purity
        ],
        axis=1,
    )


def _deepjet_neutral(q: dict[str, np.ndarray], jet_pt: float) -> np.ndarray:
    """DeepJet's 6 features of each neutral particle ``q`` of one jet, [particles, 6]."""
    nn = len(q["pt"])
    return np.stack(
        [
            q["pt"] / jet_pt,
            np.hypot(q["deta"], q["dphi"]),
            (q["pid"] == 22).astype(np.float64),
            (q["pid"] != 22).astype(np.float64),  # HadFrac
            np.full(nn, 0.4),
            np.ones(nn),
        ],
        axis=1,
    )


def _deepjet_vertices(s: dict[str, np.ndarray], jet_pt: float) -> np.ndarray:
    """DeepJet's 12 features of each secondary vertex ``s`` of one jet, [vertices, 12]."""
    return np.stack(
        [
            s["pt"],
            s["deltaR"],
            s["mass"],
            s["ntracks"],
            s["chi2"],
            s["normchi2"],
            s["dxy"],
            s["dxysig"],
            s["d3d"],
            s["d3dsig"],
            s["costhetasvpv"],
            s["pt"] / jet_pt,  # enratio
        ],
        axis=1,
    )


def _deepjet_globals(
    rng: np.random.Generator, c: dict[str, np.ndarray], m: int, neutrals: int, jet_pt: float, jet_eta: float
) -> list[float]:
    """DeepJet's 15 global features of one jet: its charged tracks ``c``, ``m`` vertices and
    ``neutrals`` neutral particles (pile-up drawn)."""
    ntr = len(c["pt"])
    dr_c = np.hypot(c["deta"], c["dphi"])
    return [
        jet_pt,
        jet_eta,
        ntr,
        neutrals,
        m,
        rng.poisson(30),  # npv: Run 2 pile-up
        min(float(c["pt"].sum()) / jet_pt, 1.0) if ntr else 0.0,  # trackSumJetEtRatio
        float(np.average(dr_c, weights=c["pt"])) if ntr else 0.0,  # trackSumJetDeltaR
        0 if m else (1 if ntr >= 2 else 2),  # vertexCategory: reco / pseudo / none
        c["sip2d"][1] if ntr > 1 else -1.0,  # trackSip2dValAboveCharm
        c["sip2dsig"][1] if ntr > 1 else -1.0,
        c["sip3d"][1] if ntr > 1 else -1.0,
        c["sip3dsig"][1] if ntr > 1 else -1.0,
        ntr,  # jetNSelectedTracks
        ntr,  # jetNTracksEtaRel
    ]


def output_spread(probabilities: np.ndarray) -> dict[str, float]:
    """How far a classifier's outputs are from one-hot: max-probability quantiles and entropy.

    ``probabilities`` is [J, classes]; the entropy (nats) of a one-hot row is 0, of a uniform
    row log(classes).
    """
    p = np.clip(probabilities.astype(np.float64), 1e-30, 1.0)
    top = p.max(axis=1)
    entropy = -(p * np.log(p)).sum(axis=1)
    return {
        "jets": len(p),
        "max_prob_p10": float(np.percentile(top, 10)),
        "max_prob_median": float(np.median(top)),
        "max_prob_p90": float(np.percentile(top, 90)),
        "saturated_fraction": float(np.mean(top > 0.999)),
        "entropy_median": float(np.median(entropy)),
        "entropy_max": float(np.log(p.shape[1])),
    }
