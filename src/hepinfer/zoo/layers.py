"""PyTorch pieces shared by the zoo's model families (imports torch)."""

from __future__ import annotations

import torch
from torch import nn


def randomise_norm_stats(model: nn.Module, seed: int = 1) -> None:
    """Give batch norms trained-looking statistics, so that a fused export is really tested."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def knn_indices(points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices [B,P,k] of each point's k nearest others; points are [B,C,P] (ParticleNet's knn).

    Distances come from the Gram matrix; TopK over k+1 drops the point itself.
    """
    inner = -2 * torch.matmul(points.transpose(2, 1), points)
    xx = torch.sum(points**2, dim=1, keepdim=True)
    neg_dist = -xx - inner - xx.transpose(2, 1)
    return neg_dist.topk(k=k + 1, dim=-1)[1][:, :, 1:]


def gather_neighbours(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Features [B,C,P,k] of each point's neighbours, from x [B,C,P] and idx [B,P,k]."""
    batch, dims, points = x.shape
    k = idx.shape[2]
    base = torch.arange(0, batch, device=x.device).view(-1, 1, 1) * points
    flat = (idx + base).reshape(-1)
    fts = x.transpose(0, 1).reshape(dims, -1)[:, flat]
    return fts.view(dims, batch, points, k).transpose(1, 0)
