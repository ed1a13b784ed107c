"""graph_vae: the graph VAE of the dijet sensitivity study, exportable without PyG.

Per jet: particles [B,P,3] (eta, phi, pT) and a mask [B,P]; P is a dynamic axis. The model
finds each particle's k=8 nearest particles in (eta, phi) itself (pairwise distances + TopK,
as ParticleNet does); padded particles are moved far away so that a real particle never picks
them while it has enough real neighbours, and where a jet has fewer than k+1 real particles
the padded neighbours it had to take are left out of the mean (each neighbour weighted by its
mask). Encoder: two EdgeConvs (edge MLP on [x_i, x_j - x_i], mean over neighbours), masked
mean pooling, Dense 64->32 ReLU, heads 32->8. Decoder per node: [z ; h_i] -> Dense 64 ReLU
-> 3, times the mask, so that it works for any P. z is the mean: outputs are deterministic.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

# Distance added to padded particles' coordinates: beyond any real (eta, phi) pair.
PAD_SHIFT = 1.0e4


def knn(coords: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Indices [B,P,k] of each particle's k nearest others in (eta, phi) coords [B,P,2]."""
    pts = coords + (1.0 - mask).unsqueeze(-1) * PAD_SHIFT
    sq = (pts * pts).sum(-1)
    dist = sq.unsqueeze(2) - 2.0 * torch.matmul(pts, pts.transpose(1, 2)) + sq.unsqueeze(1)
    return torch.topk(dist, k + 1, dim=-1, largest=False)[1][:, :, 1:]


def gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B,P,C] at idx [B,P,k] -> [B,P,k,C]."""
    batch, points, k = idx.shape
    flat = (idx + torch.arange(batch, device=idx.device).view(-1, 1, 1) * points).reshape(-1)
    return x.reshape(batch * points, -1)[flat].reshape(batch, points, k, -1)


class EdgeConv(nn.Module):
    """Edge MLP (Linear + ReLU per width) on [x_i, x_j - x_i], masked mean over neighbours."""

    def __init__(self, cin: int, widths: Sequence[int]) -> None:
        super().__init__()
        chans = [2 * cin, *widths]
        self.mlp = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(chans))

    def forward(self, x: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        nbr = gather(x, idx)  # [B,P,k,C]
        centre = x.unsqueeze(2).expand_as(nbr)
        h = torch.cat([centre, nbr - centre], dim=-1)
        for layer in self.mlp:
            h = torch.relu(layer(h))
        return (h * weight.unsqueeze(-1)).sum(dim=2) / weight.sum(dim=2, keepdim=True).clamp(min=1.0)


class GraphVAE(nn.Module):
    """EdgeConv 3->32, EdgeConv 32->64, masked mean, Dense 64->32, heads 32->8; node decoder."""

    def __init__(self, k: int = 8, latent: int = 8) -> None:
        super().__init__()
        self.k = k
        self.conv1 = EdgeConv(3, (32, 32))
        self.conv2 = EdgeConv(32, (64, 64))
        self.dense = nn.Linear(64, 32)
        self.mu = nn.Linear(32, latent)
        self.log_var = nn.Linear(32, latent)
        self.decode1 = nn.Linear(latent + 64, 64)
        self.decode2 = nn.Linear(64, 3)

    def forward(
        self, particles: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = mask.unsqueeze(-1)
        x = particles * m
        idx = knn(x[..., :2], mask, self.k)
        weight = gather(m, idx).squeeze(-1)  # [B,P,k]: real neighbours only
        h = self.conv1(x, idx, weight) * m
        h = self.conv2(h, idx, weight) * m
        pooled = h.sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        e = torch.relu(self.dense(pooled))
        mu, log_var = self.mu(e), self.log_var(e)
        z = mu.unsqueeze(1).expand(-1, h.shape[1], -1)
        recon = self.decode2(torch.relu(self.decode1(torch.cat([z, h], dim=-1)))) * m
        return recon, mu, log_var


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """graph_vae with seeded weights, in eval mode."""
    if name != "graph_vae":
        raise KeyError(name)
    torch.manual_seed(0)
    return GraphVAE(k=int(params["k"])).eval()
