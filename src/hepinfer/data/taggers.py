"""Generated AK8 jets -> the inputs of the CMS originals (DeepAK8, DeepDoubleB 94X, DeepJet V01),
padded as CMSSW pads them, for agreement checks on inputs like a tagger sees.

What comes from the events (Pythia 8 + fastjet, ``hepinfer.data.generate``): the jets and
their constituents, so the particle multiplicity and every kinematic feature (log pT, pT and E
relative to the jet, eta/phi relative to the axis, dR, |eta|, charge, particle type) and the
distance of each particle to the jet's two subjets (a pT-weighted 2-means in (eta, phi),
seeded at the two hardest constituents). Generation has no tracker, so the track quantities
are drawn, seeded, from physical distributions and say so in their names below:
impact parameters of charged particles are Gaussian (dxy 20 um, dz 50 um; 10% from a
displaced component of 300 um, as from heavy-flavour decays), their significances those
values over the same resolutions, chi2/ndf from a Gamma of mean 1, high-purity quality, the
covariance entries at CMS's medians times a log-normal spread; secondary vertices are
Poisson(0.7) per jet with mass, flight distance and significance log-normal around CMS's
medians. Particles are those with pT > ``pt_min`` (1 GeV: the PF/PUPPI threshold that gives
10-60 of DeepAK8's 100 slots for most jets).

DeepAK8 takes CMSSW's standardised values ``(x - median) * norm_factor`` clipped to [-5, 5]
(``pfDeepBoostedJetPreprocessParams``, V02), with zeros in the padded slots after
standardisation; DeepDoubleB and DeepJet take raw values (their graphs begin with
BatchNormalization layers on each input), zero-padded.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepinfer.data.schema import delta_phi

# DeepAK8 V02 (CMSSW RecoBTag/ONNXRuntime/python/Parameters/DeepBoostedJet/V02): name, median,
# norm_factor, in the model's input order.
DEEPAK8_PF = (
    ("pfcand_pt_log", 1.03476798534, 0.542224410728),
    ("pfcand_ptrel_log", -5.37407469749, 0.554677114485),
    ("pfcand_erel_log", -5.38221979141, 0.556499386531),
    ("pfcand_phirel", -1.71389010575e-05, 4.22784626632),
    ("pfcand_etarel", -0.00711047858931, 4.2642743837),
    ("pfcand_deltaR", 0.252654820681, 3.50836328292),
    ("pfcand_abseta", 0.632648706436, 1.59032225958),
    ("pfcand_puppiw", 1.0, 255.000015199),
    ("pfcand_drminsv", 0.192182734609, 2.38205282141),
    ("pfcand_drsubjet1", 0.258241385221, 2.92607580997),
    ("pfcand_drsubjet2", 0.305164307356, 2.88195895791),
    ("pfcand_charge", 0.0, 1.0),
    ("pfcand_isMu", 0.0, 1.0),
    ("pfcand_isEl", 0.0, 1.0),
    ("pfcand_isChargedHad", 1.0, 1.0),
    ("pfcand_isGamma", 0.0, 1.0),
    ("pfcand_isNeutralHad", 0.0, 1.0),
    ("pfcand_hcalFrac", 0.0, 1.0),
    ("pfcand_VTX_ass", 7.0, 1.0),
    ("pfcand_lostInnerHits", -1.0, 1.0),
    ("pfcand_normchi2", 2.0, 0.00100300902708),
    ("pfcand_quality", 5.0, 0.2),
    ("pfcand_dz", 0.0, 264.770519024),
    ("pfcand_dzsig", 0.0, 1.23840120847),
    ("pfcand_dxy", 0.0, 415.415835966),
    ("pfcand_dxysig", 0.0, 1.54565964258),
    ("pfcand_dptdpt", 4.11880840545e-08, 66429.1000843),
    ("pfcand_detadeta", 1.15567200254e-08, 1644010.14927),
    ("pfcand_dphidphi", 1.130510352e-08, 796482.476472),
    ("pfcand_dxydxy", 9.32332170578e-07, 45949.2394216),
    ("pfcand_dzdz", 1.58729170607e-06, 36545.958354),
    ("pfcand_dxydz", 0.0, 10598589.4298),
    ("pfcand_dphidxy", -9.61654578191e-08, 204149.346943),
    ("pfcand_dlambdadz", -1.2810873784e-07, 268715.13012),
    ("pfcand_btagEtaRel", 1.19703966379, 0.521026991705),
    ("pfcand_btagPtRatio", 0.0173742230982, 4.25351138308),
    ("pfcand_btagPParRatio", 0.839023888111, 1.19186117841),
    ("pfcand_btagSip2dVal", 0.0, 495.583709284),
    ("pfcand_btagSip2dSig", 0.0, 1.41174531059),
    ("pfcand_btagSip3dVal", 0.0, 233.664322627),
    ("pfcand_btagSip3dSig", 0.0, 0.831133090749),
    ("pfcand_btagJetDistVal", -0.000215483247302, 161.385119349),
)
DEEPAK8_SV = (
    ("sv_pt_log", 3.64881515503, 0.725050067872),
    ("sv_ptrel_log", -2.81496477127, 0.701236308041),
    ("sv_erel_log", -2.82667005062, 0.704463981589),
    ("sv_phirel", 0.000521215377375, 7.16761972364),
    ("sv_etarel", -0.0037129354896, 6.99426943996),
    ("sv_deltaR", 0.140969499946, 4.30546783192),
    ("sv_abseta", 0.616221785545, 1.49676942133),
    ("sv_mass", 1.34319722652, 0.368495534421),
    ("sv_ntracks", 3.0, 0.5),
    ("sv_normchi2", 0.819934427738, 0.725797320076),
    ("sv_dxy", 0.387232214212, 0.360931771841),
    ("sv_dxysig", 9.11130714417, 0.0238327380073),
    ("sv_d3d", 0.5242870152, 0.255813267634),
    ("sv_d3dsig", 9.12465429306, 0.0238374692882),
    ("sv_costhetasvpv", 0.999747157097, 174.907183727),
)

DXY_RES, DZ_RES = 0.002, 0.005  # cm: the resolutions impact parameters are drawn with


def _subjet_dr(deta: np.ndarray, dphi: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _tracks(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
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


def _vertices(rng: np.random.Generator, jet_pt: float, jet_e: float, most: int) -> dict[str, np.ndarray]:
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


def _standardise(x: np.ndarray, median: float, norm: float) -> np.ndarray:
    return np.clip((x - median) * norm, -5.0, 5.0)


def _particles(jet: ak.Record, pt_min: float, cone: float | None = None) -> dict[str, np.ndarray]:
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


def _angles(p: dict[str, np.ndarray], jet_eta: float) -> dict[str, np.ndarray]:
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
    return np.array([len(_particles(j, pt_min, cone)["pt"]) for j in jets], np.int64)


def deepak8_inputs(
    jets: ak.Array, seed: int = 0, pt_min: float = 1.0, particles: int = 100, vertices: int = 7
) -> dict[str, np.ndarray]:
    """pfcand [J,42,100,1] and sv [J,15,7,1], standardised and padded as CMSSW does."""
    rng = np.random.default_rng(seed)
    pf = np.zeros((len(jets), len(DEEPAK8_PF), particles, 1), np.float32)
    sv = np.zeros((len(jets), len(DEEPAK8_SV), vertices, 1), np.float32)
    for j, jet in enumerate(jets):
        p = _particles(jet, pt_min)
        n = min(len(p["pt"]), particles)
        p = {k: v[:n] for k, v in p.items()}
        jet_pt, jet_e, jet_eta = float(jet.pt), float(jet.e), float(jet.eta)
        s = _vertices(rng, jet_pt, jet_e, vertices)
        charged = p["charge"] != 0
        t = _tracks(rng, n)
        zero = np.zeros(n)
        on = charged.astype(np.float64)
        a = _angles(p, jet_eta)
        sub1, sub2 = _subjet_dr(p["deta"], p["dphi"], p["pt"])
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
        for i, (name, median, norm) in enumerate(DEEPAK8_PF):
            pf[j, i, :n, 0] = _standardise(raw[name], median, norm)
        m = len(s["pt"])
        svraw = {
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
        for i, (name, median, norm) in enumerate(DEEPAK8_SV):
            sv[j, i, :m, 0] = _standardise(svraw[name], median, norm)
    return {"pfcand": pf, "sv": sv}


def _charged_block(
    rng: np.random.Generator, p: dict[str, np.ndarray], jet_eta: float
) -> dict[str, np.ndarray]:
    """The b-tag track features of a jet's charged particles, falling 2D IP significance."""
    charged = p["charge"] != 0
    q = {k: v[charged] for k, v in p.items()}
    t = _tracks(rng, len(q["pt"]))
    a = _angles(q, jet_eta)
    order = np.argsort(-t["sip2dsig"], kind="stable")
    out = {**t, **a, "pt": q["pt"], "deta": q["deta"], "dphi": q["dphi"]}
    return {k: v[order] for k, v in out.items()}


def deepdoubleb_inputs(jets: ak.Array, seed: int = 0, pt_min: float = 1.0) -> dict[str, np.ndarray]:
    """DeepDoubleB 94X: input_1 [J,1,27] (the double-b variables), input_2 [J,60,8] (charged
    particles' b-tag track features), input_3 [J,5,2] (SV d3d, d3d significance); raw values."""
    rng = np.random.default_rng(seed)
    db = np.zeros((len(jets), 1, 27), np.float32)
    cpf = np.zeros((len(jets), 60, 8), np.float32)
    svs = np.zeros((len(jets), 5, 2), np.float32)
    for j, jet in enumerate(jets):
        p = _particles(jet, pt_min)
        jet_eta = float(jet.eta)
        c = _charged_block(rng, p, jet_eta)
        s = _vertices(rng, float(jet.pt), float(jet.e), 5)
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
        sig3 = np.sort(c["sip3dsig"])[::-1]
        sip = np.concatenate([sig3, np.full(4, -50.0)])[:4]  # CMSSW's default for missing tracks
        eta_rel = np.concatenate([np.sort(c["etarel"]), np.zeros(6)])
        sig2 = np.concatenate([np.sort(c["sip2dsig"])[::-1], np.full(2, -19.0)])
        mass = np.concatenate([s["mass"], np.zeros(2)])
        ratio = np.concatenate([s["e"] / float(jet.e) * 3, np.zeros(2)])
        fd = np.concatenate([np.log1p(s["dxysig"]), np.zeros(2)])
        db[j, 0] = [
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
    return {"input_1": db, "input_2": cpf, "input_3": svs}


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
        p = _particles(jet, pt_min, cone)
        jet_eta = float(jet.eta)
        jet_pt = float(p["pt"].sum()) if len(p["pt"]) else float(jet.pt)
        c = _charged_block(rng, p, jet_eta)
        s = _vertices(rng, jet_pt, jet_pt * np.cosh(jet_eta), 4)
        nc, m = min(len(c["pt"]), 25), len(s["pt"])
        neutral = p["charge"] == 0
        nn = min(int(neutral.sum()), 25)
        dr_c = np.hypot(c["deta"], c["dphi"])
        cblock = np.stack(
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
        cpf[j, :nc] = cblock[:nc]
        q = {k: v[neutral][:nn] for k, v in p.items()}
        npf[j, :nn] = np.stack(
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
        if m:
            svs[j, :m] = np.stack(
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
        ntr = len(c["pt"])
        glob[j] = [
            jet_pt,
            jet_eta,
            ntr,
            int(neutral.sum()),
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
        reg[j, 0] = jet_pt
    return {"input_1": glob, "input_2": cpf, "input_3": npf, "input_4": svs, "input_5": reg}


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
