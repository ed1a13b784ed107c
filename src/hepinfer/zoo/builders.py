"""Realistic seeded inputs for the zoo's models (numpy only; torch is never imported here).

Jets are padded particle lists: a realistic number of real particles, sorted by falling pT,
with angles inside the jet cone and a steeply falling pT spectrum; padding slots are zero and
masked. Detector images are sparse; graphs are built from images by one fixed rule
(``image_graph``), so that the same image gives the same graph in every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hepinfer.zoo.events import falling_pt
from hepinfer.zoo.inputs import multiplicity


def constituent_pt(rng: np.random.Generator, size: tuple[int, ...] | int, minimum: float = 1.0) -> np.ndarray:
    """Jet-constituent pT in GeV: a hard power-law tail (Pareto, index 1.3) above ``minimum``;
    the median is ~1.7 x minimum while the leading particles reach hundreds of GeV."""
    u = rng.uniform(1e-4, 1.0, size)
    return minimum * u ** (-1.0 / 1.3)


@dataclass(frozen=True)
class Particles:
    """Padded particles of ``batch`` jets: arrays [B, cap], real ones first by falling pT."""

    pt: np.ndarray
    deta: np.ndarray
    dphi: np.ndarray
    mask: np.ndarray  # bool [B, cap]

    @property
    def energy(self) -> np.ndarray:
        """Energy of massless particles at the jet's pseudorapidity offsets."""
        return self.pt * np.cosh(self.deta)


def particles(
    rng: np.random.Generator, batch: int, cap: int, cone: float, n: np.ndarray | None = None,
    minimum: float = 1.0,
) -> Particles:  # fmt: skip
    """Jet constituents: pT in GeV above ``minimum`` (power law), angles within ``cone``.

    Harder particles sit nearer the axis, as in real jets: the angular spread scales as
    pT^-1/2, then is cut at the cone radius.
    """
    if n is None:
        n = multiplicity(rng, batch, cap)
    pt = -np.sort(-constituent_pt(rng, (batch, cap), minimum), axis=1)
    spread = np.clip(0.25 * cone * (pt / minimum) ** -0.5, 0.01, cone)
    r = np.minimum(np.abs(rng.normal(0.0, spread)), 0.98 * cone)
    angle = rng.uniform(-np.pi, np.pi, (batch, cap))
    mask = np.arange(cap)[None, :] < n[:, None]
    z = np.where(mask, 1.0, 0.0)
    return Particles(pt * z, r * np.cos(angle) * z, r * np.sin(angle) * z, mask)


def _features(rng: np.random.Generator, p: Particles, count: int) -> np.ndarray:
    """[B, count, cap] per-particle features as a trained model's preprocessing makes them:
    log pT, log E, relative log pT/E, the angles, then standardised track/ID quantities."""
    eps = 1e-6
    pt_jet = p.pt.sum(axis=1, keepdims=True) + eps
    e_jet = p.energy.sum(axis=1, keepdims=True) + eps
    known = [
        np.log(p.pt + eps) - 1.0,
        np.log(p.energy + eps) - 1.3,
        np.log(p.pt / pt_jet + eps) + 4.0,
        np.log(p.energy / e_jet + eps) + 4.0,
        p.deta / 0.2,
        p.dphi / 0.2,
        np.hypot(p.deta, p.dphi) / 0.2,
    ]
    rest = rng.standard_normal((max(count - len(known), 0), *p.pt.shape))
    # Charge, particle-ID flags: a few of the "rest" columns are discrete like real ones.
    if len(rest) > 2:
        rest[0] = rng.choice([-1.0, 0.0, 1.0], p.pt.shape)
        rest[1] = (rng.uniform(size=p.pt.shape) < 0.6).astype(float)
    fts = np.concatenate([np.stack(known[:count]), rest])[:count]
    return (fts * p.mask[None]).transpose(1, 0, 2).astype(np.float32)


def _vertices(rng: np.random.Generator, batch: int, cap: int, mean: float, cone: float) -> Particles:
    n = np.minimum(rng.poisson(mean, batch), cap)
    return particles(rng, batch, cap, cone, n=n, minimum=3.0)


def jet_vae(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """jet_vae: 'jet' [B,100,3] = (eta, phi, pT in GeV) of up to 100 constituents."""
    p = particles(rng, batch, 100, 0.8, minimum=0.5)
    return {"jet": np.stack([p.deta, p.dphi, p.pt], axis=-1).astype(np.float32)}


def particlenet(
    rng: np.random.Generator, batch: int, n_pf: int, n_sv: int, pf_features: int, with_sv: bool
) -> dict[str, np.ndarray]:
    """ParticleNet: points (deta, dphi), features and masks for PF candidates and SVs."""
    pf = particles(rng, batch, n_pf, 0.8)
    out = {
        "pf_points": np.stack([pf.deta, pf.dphi], axis=1).astype(np.float32),
        "pf_features": _features(rng, pf, pf_features),
        "pf_mask": pf.mask[:, None, :].astype(np.float32),
    }
    if with_sv:
        sv = _vertices(rng, batch, n_sv, 1.5, 0.8)
        out["sv_points"] = np.stack([sv.deta, sv.dphi], axis=1).astype(np.float32)
        out["sv_features"] = _features(rng, sv, 11)
        out["sv_mask"] = sv.mask[:, None, :].astype(np.float32)
    return out


def deepak8(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """DeepAK8: pfcand [B,42,100,1] and sv [B,15,7,1], zero-padded."""
    pf = particles(rng, batch, 100, 0.8)
    sv = _vertices(rng, batch, 7, 1.5, 0.8)
    return {"pfcand": _features(rng, pf, 42)[..., None], "sv": _features(rng, sv, 15)[..., None]}


def _global(rng: np.random.Generator, batch: int, count: int) -> np.ndarray:
    """Jet-level features: log pT, |eta|, multiplicities, then standardised ones."""
    pt = falling_pt(rng, batch, 30.0)
    cols = [np.log(pt) - 4.0, np.abs(rng.normal(0, 1.2, batch)), rng.poisson(12, batch) / 10.0]
    cols += list(rng.standard_normal((count - 3, batch)))
    return np.stack(cols[:count], axis=1).astype(np.float32)


def _rows(rng: np.random.Generator, p: Particles, count: int) -> np.ndarray:
    """Keras/DeepJet layout [B, N, F]."""
    return np.ascontiguousarray(_features(rng, p, count).transpose(0, 2, 1))


def deepjet(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """DeepJet: global, 25 charged, 25 neutral, 4 SVs, and the jet pT."""
    cpf = particles(rng, batch, 25, 0.4, n=np.minimum(rng.poisson(9, batch), 25))
    npf = particles(rng, batch, 25, 0.4, n=np.minimum(rng.poisson(7, batch), 25))
    sv = _vertices(rng, batch, 4, 0.8, 0.4)
    pt = falling_pt(rng, (batch, 1), 30.0).astype(np.float32)
    return {
        "input_1": _global(rng, batch, 15),
        "input_2": _rows(rng, cpf, 16),
        "input_3": _rows(rng, npf, 6),
        "input_4": _rows(rng, sv, 12),
        "input_5": pt,
    }


def deepdoublex(rng: np.random.Generator, batch: int, version: str) -> dict[str, np.ndarray]:
    """DeepDoubleX: double-b features, then padded particle and SV lists (Keras layout)."""
    if version == "102X":
        pf = particles(rng, batch, 60, 0.8)
        cpf = particles(rng, batch, 40, 0.8)
        sv = _vertices(rng, batch, 5, 1.5, 0.8)
        return {
            "input_1": _global(rng, batch, 5)[:, None, :],
            "input_2": _rows(rng, pf, 8),
            "input_3": _rows(rng, cpf, 21),
            "input_4": _rows(rng, sv, 7),
        }
    cpf = particles(rng, batch, 60, 0.8)
    sv = _vertices(rng, batch, 5, 1.5, 0.8)
    return {
        "input_1": _global(rng, batch, 27)[:, None, :],
        "input_2": _rows(rng, cpf, 8),
        "input_3": _rows(rng, sv, 2),
    }


def _grid(rng: np.random.Generator, batch: int, size: int, channels: int, occupancy: float) -> np.ndarray:
    """Sparse eta-phi grid [B,size,size,C]: a few occupied cells, more near the centre."""
    centre = (size - 1) / 2
    ii, jj = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    prob = occupancy * np.exp(-((ii - centre) ** 2 + (jj - centre) ** 2) / (2 * (size / 4) ** 2))
    occupied = rng.uniform(size=(batch, size, size)) < prob
    values = rng.standard_normal((batch, size, size, channels))
    values[..., 0] = np.log(falling_pt(rng, (batch, size, size), 1.0))
    return (values * occupied[..., None]).astype(np.float32)


def deeptau(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """DeepTau v2: tau features and six sparse grids, channels-last."""
    out = {"input_tau": _global(rng, batch, 47)}
    for region, size, occ in (("inner", 11, 0.25), ("outer", 21, 0.08)):
        for kind, channels, scale in (("egamma", 86, 1.0), ("muon", 64, 0.1), ("hadrons", 38, 1.0)):
            out[f"input_{region}_{kind}"] = _grid(rng, batch, size, channels, occ * scale)
    return out


def breg(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """b-jet regression: 43 jet features (kinematics, leptons, secondary vertex, fractions)."""
    return {"input": _global(rng, batch, 43)}


def detector_image(
    rng: np.random.Generator, batch: int, channels: int, shape: tuple[int, ...], hits: float
) -> np.ndarray:
    """Sparse images [B,C,*shape]: hits around the centre with falling deposits, rest zero."""
    size = int(np.prod(shape))
    out = np.zeros((batch, channels, size), dtype=np.float32)
    centre = np.array(shape, dtype=float) / 2 - 0.5
    spread = np.array(shape, dtype=float) / 8
    for b in range(batch):
        n = max(1, int(rng.gamma(2.0, hits / 2.0)))
        pos = np.rint(rng.normal(centre, spread, (n, len(shape))))
        pos = np.clip(pos, 0, np.array(shape) - 1).astype(np.int64)
        flat = np.ravel_multi_index(tuple(pos.T), shape)
        for c in range(channels):
            energy = falling_pt(rng, n, 0.1) * (1.0 if c == 0 else rng.uniform(0, 1, n))
            np.add.at(out[b, c], flat, energy.astype(np.float32))
    return out.reshape(batch, channels, *shape)


def tau_images(rng: np.random.Generator, batch: int, channels: int, size: int) -> np.ndarray:
    """gnn_tau images [B,C,size,size]: pT, ECAL, HCAL, dz, d0 and pixel-layer hits.

    Tracks carry pT, dz, d0 and pixel hits; neutral deposits only ECAL/HCAL.
    """
    img = np.zeros((batch, channels, size, size), dtype=np.float32)
    c = (size - 1) / 2
    for b in range(batch):
        n = int(np.clip(rng.gamma(2.0, 10.0), 3, 4 * size))
        pos = np.clip(np.rint(rng.normal(c, size / 10, (n, 2))), 0, size - 1).astype(np.int64)
        pt = falling_pt(rng, n, 0.5)
        track = rng.uniform(size=n) < 0.6
        vals = np.zeros((channels, n))
        vals[0] = pt * track
        vals[1 % channels] += pt * rng.uniform(0.2, 1.0, n)
        if channels > 2:
            vals[2] = pt * rng.uniform(0.0, 0.8, n) * ~track
        if channels > 4:
            vals[3] = rng.normal(0, 0.05, n) * track
            vals[4] = rng.normal(0, 0.02, n) * track
        for layer in range(5, channels):
            vals[layer] = (rng.uniform(size=n) < 0.9) * track
        for ch in range(channels):
            np.add.at(img[b, ch], (pos[:, 0], pos[:, 1]), vals[ch].astype(np.float32))
    return img


@dataclass(frozen=True)
class Graph:
    """One image's graph: node features [n,F], pixel coordinates [n,2], neighbours [n,k]."""

    nodes: np.ndarray
    coords: np.ndarray
    neighbours: np.ndarray  # -1 where a node has fewer than k other nodes


def image_graph(image: np.ndarray, k: int, cap: int) -> Graph:
    """Nodes: non-zero pixels, by falling value of channel 0 then pixel order, at most ``cap``.

    Features: the channel values plus (i, j) / size. Edges: each node's k nearest other nodes
    by squared pixel distance, ties to the lower node index (distance + j / (2 cap)), exactly
    the rule the model's in-graph kNN uses.
    """
    _channels, h, w = image.shape
    ii, jj = np.nonzero(np.any(image != 0, axis=0))
    order = np.lexsort((ii * w + jj, -image[0, ii, jj]))[:cap]
    ii, jj = ii[order], jj[order]
    n = len(ii)
    feats = np.concatenate([image[:, ii, jj].T, np.stack([ii / h, jj / w], axis=1)], axis=1)
    coords = np.stack([ii, jj], axis=1).astype(np.float32)
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1)
    score = d2 + np.arange(n)[None, :] / (2.0 * cap)
    np.fill_diagonal(score, np.inf)
    nbr = np.argsort(score, axis=1, kind="stable")[:, :k]
    if n - 1 < k:
        nbr = np.concatenate([nbr[:, : n - 1], np.full((n, k - (n - 1)), -1)], axis=1)
    return Graph(feats.astype(np.float32), coords, nbr.astype(np.int64))


def gnn_tau(
    rng: np.random.Generator, batch: int, dims: Mapping[str, int], params: Mapping[str, object]
) -> dict[str, np.ndarray]:
    """gnn_tau inputs in the chosen form, built from sparse tau images."""
    channels, size, k = (
        int(str(params["channels"])),
        int(str(params["image"])),
        int(str(params["k"])),
    )
    images = tau_images(rng, batch, channels, size)
    cap = dims.get("n_nodes", size * size)
    graphs = [image_graph(img, k, cap) for img in images]
    if params["form"] == "flat":
        offsets = np.cumsum([0] + [len(g.nodes) for g in graphs])
        src, dst = [], []
        for g, off in zip(graphs, offsets, strict=False):
            i, j = np.nonzero(g.neighbours >= 0)
            src.append(g.neighbours[i, j] + off)
            dst.append(i + off)
        return {
            "nodes": np.concatenate([g.nodes for g in graphs]),
            "edges": np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64),
            "node_graph": np.repeat(np.arange(batch), np.diff(offsets)).astype(np.int64),
            "graph_sizes": np.diff(offsets).astype(np.float32),
        }
    f = channels + 2
    nodes = np.zeros((batch, cap, f), dtype=np.float32)
    coords = np.zeros((batch, cap, 2), dtype=np.float32)
    nbrs = np.zeros((batch, cap, k), dtype=np.int64)
    mask = np.zeros((batch, cap), dtype=np.float32)
    for b, g in enumerate(graphs):
        n = len(g.nodes)
        nodes[b, :n], coords[b, :n], mask[b, :n] = g.nodes, g.coords, 1.0
        # Missing neighbours point at the first padding slot (zero features), as the in-model
        # kNN picks it; padding rows point at themselves.
        nbrs[b, :n] = np.where(g.neighbours >= 0, g.neighbours, min(n, cap - 1))
        nbrs[b, n:] = np.arange(n, cap)[:, None]
    graph = coords if params["form"] == "knn" else nbrs
    return {"nodes": nodes, "graph": graph, "mask": mask}


def calo_shower(rng: np.random.Generator, batch: int, voxels: int) -> dict[str, np.ndarray]:
    """calo_flow: x_t between noise and a sparse shower, t in [0,1], energy in GeV (log-uniform)."""
    energy = np.exp(rng.uniform(np.log(1.0), np.log(1000.0), (batch, 1))).astype(np.float32)
    depth = np.linspace(0.0, 1.0, voxels)
    profile = depth**2 * np.exp(-6 * depth)
    shower = rng.exponential(1.0, (batch, voxels)) * profile / profile.sum()
    shower *= rng.uniform(size=(batch, voxels)) < 0.15  # most voxels are empty
    x1 = np.log1p(1e3 * shower * energy)
    t = rng.uniform(0.0, 1.0, (batch, 1))
    x_t = (1 - t) * rng.standard_normal((batch, voxels)) + t * x1
    return {"x_t": x_t.astype(np.float32), "t": t.astype(np.float32), "energy": energy}
