"""Eta-phi images of jets and their kNN graphs (pure numpy), as the zoo spec's gnn_tau says.

An image has channels first ``[C, H, W]``: pixel (i, j) covers eta-offset row i and phi-offset
column j around the jet axis. A graph takes the non-zero pixels (any channel) as nodes in
row-major order; node features are the channel values followed by the normalised coordinates
(i / (H-1), j / (W-1)); each node is joined to its k=3 nearest other nodes by Euclidean
distance in (i, j), ties broken by the lower node index, so the same image gives the same
graph everywhere. A node with fewer than k other nodes repeats its own index (a self loop).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

CHANNELS = ("charged_pt", "neutral_pt")


def channel_weights(pt: np.ndarray, charge: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[J,P] constituent arrays -> [J,P,2] weights: pT of charged and of neutral constituents."""
    charged = (charge != 0) & (mask > 0)
    neutral = (charge == 0) & (mask > 0)
    return np.stack([pt * charged, pt * neutral], axis=-1).astype(np.float32)


def eta_phi_image(
    deta: np.ndarray,
    dphi: np.ndarray,
    weights: np.ndarray,
    mask: np.ndarray,
    size: int = 32,
    half_width: float = 0.8,
) -> np.ndarray:
    """Sum of ``weights`` [J,P,C] into a [J,C,size,size] grid over |deta|,|dphi| < half_width.

    Constituents outside the window or masked out (mask 0) are dropped.
    """
    jets, particles, channels = weights.shape
    cell = 2.0 * half_width / size
    i = np.floor((deta + half_width) / cell).astype(np.int64)
    j = np.floor((dphi + half_width) / cell).astype(np.int64)
    keep = (mask > 0) & (i >= 0) & (i < size) & (j >= 0) & (j < size)
    image = np.zeros((jets, channels, size, size), np.float32)
    jet_idx = np.broadcast_to(np.arange(jets)[:, None], (jets, particles))
    for c in range(channels):
        np.add.at(image[:, c], (jet_idx[keep], i[keep], j[keep]), weights[..., c][keep])
    return image


def deeptau_grids(
    deta: np.ndarray, dphi: np.ndarray, weights: np.ndarray, mask: np.ndarray
) -> dict[str, np.ndarray]:
    """DeepTau-like channels-last grids: inner 11x11 of 0.02 cells, outer 21x21 of 0.05 cells."""
    inner = eta_phi_image(deta, dphi, weights, mask, size=11, half_width=11 * 0.02 / 2)
    outer = eta_phi_image(deta, dphi, weights, mask, size=21, half_width=21 * 0.05 / 2)
    return {"inner": np.moveaxis(inner, 1, -1).copy(), "outer": np.moveaxis(outer, 1, -1).copy()}


def knn_graph(image: np.ndarray, k: int = 3) -> dict[str, np.ndarray]:
    """One image [C,H,W] -> nodes [N,C+2], coords [N,2] (i, j), neighbours [N,k] (node indices)."""
    if image.ndim != 3:
        raise ValueError(f"knn_graph takes one image [C,H,W], got shape {image.shape}")
    _, h, w = image.shape
    ii, jj = np.nonzero(np.any(image != 0, axis=0))  # row-major order
    coords = np.stack([ii, jj], axis=1).astype(np.int64)
    values = image[:, ii, jj].T
    norm = np.stack([ii / max(h - 1, 1), jj / max(w - 1, 1)], axis=1)
    nodes = np.concatenate([values, norm], axis=1).astype(np.float32)
    return {"nodes": nodes, "coords": coords, "neighbours": _knn(coords, k)}


def _knn(coords: np.ndarray, k: int) -> np.ndarray:
    n = len(coords)
    if n == 0:
        return np.zeros((0, k), np.int64)
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1).astype(np.float64)
    np.fill_diagonal(d2, np.inf)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    out = np.repeat(np.arange(n)[:, None], k, axis=1)  # self loops where fewer than k others
    have = min(k, n - 1)
    out[:, :have] = order[:, :have]
    return out


def padded_graphs(images: np.ndarray, k: int = 3, max_nodes: int | None = None) -> dict[str, np.ndarray]:
    """Images [B,C,H,W] -> the exportable padded form: node_features [B,N,C+2], mask [B,N],
    neighbours [B,N,k] (padding rows point to themselves), coords [B,N,2].

    N is ``max_nodes`` or the largest graph of the batch; graphs with more nodes keep their
    ``max_nodes`` pixels of largest summed value (then in row-major order) before the kNN.
    """
    graphs = [knn_graph(_keep_largest(img, max_nodes), k) for img in images]
    n = max_nodes if max_nodes is not None else max((len(g["nodes"]) for g in graphs), default=0)
    b, f = len(images), images.shape[1] + 2
    feats = np.zeros((b, n, f), np.float32)
    mask = np.zeros((b, n), np.float32)
    coords = np.zeros((b, n, 2), np.int64)
    neigh = np.repeat(np.repeat(np.arange(n)[None, :, None], k, axis=2), b, axis=0)
    for g_i, g in enumerate(graphs):
        m = len(g["nodes"])
        feats[g_i, :m] = g["nodes"]
        mask[g_i, :m] = 1.0
        coords[g_i, :m] = g["coords"]
        neigh[g_i, :m] = g["neighbours"]
    return {"node_features": feats, "mask": mask, "neighbours": neigh, "coords": coords}


def flat_graphs(images: np.ndarray, k: int = 3) -> dict[str, np.ndarray]:
    """Images [B,C,H,W] -> the flat form: x [sum N, C+2], batch [sum N], neighbours [sum N, k]
    (global row indices), edge_index [2, sum N * k] (row 0 the neighbour, row 1 the node)."""
    xs, batch, neigh = [], [], []
    offset = 0
    for b, img in enumerate(images):
        g = knn_graph(img, k)
        m = len(g["nodes"])
        xs.append(g["nodes"])
        batch.append(np.full(m, b, np.int64))
        neigh.append(g["neighbours"] + offset)
        offset += m
    f = images.shape[1] + 2
    x = np.concatenate(xs) if xs else np.zeros((0, f), np.float32)
    nb = np.concatenate(neigh) if neigh else np.zeros((0, k), np.int64)
    target = np.repeat(np.arange(len(nb)), k)
    return {
        "x": x.astype(np.float32),
        "batch": np.concatenate(batch) if batch else np.zeros(0, np.int64),
        "neighbours": nb,
        "edge_index": np.stack([nb.reshape(-1), target]).astype(np.int64),
    }


def _keep_largest(image: np.ndarray, max_nodes: int | None) -> np.ndarray:
    if max_nodes is None:
        return image
    total = image.sum(axis=0)
    flat = total.reshape(-1)
    nonzero = np.flatnonzero(np.any(image != 0, axis=0).reshape(-1))
    if len(nonzero) <= max_nodes:
        return image
    keep = nonzero[np.argsort(-flat[nonzero], kind="stable")[:max_nodes]]
    sel = np.zeros(flat.shape, bool)
    sel[keep] = True
    return image * sel.reshape(total.shape)[None]


def jet_images(constituents: Mapping[str, np.ndarray], size: int = 32, half_width: float = 0.8) -> np.ndarray:
    """Padded constituent arrays (deta, dphi, pt, charge, mask: [J,P]) -> [J,2,size,size] images
    of charged and neutral pT (GeV)."""
    w = channel_weights(constituents["pt"], constituents["charge"], constituents["mask"])
    return eta_phi_image(
        constituents["deta"], constituents["dphi"], w, constituents["mask"], size, half_width
    )
