"""calo_flow: the velocity field of a flow-matching fast calorimeter simulation.

v(x_t, t, E) is an MLP over the flattened shower (40,500 voxels: 18 r x 50 phi x 45 z, or a
smaller grid) with sinusoidal time and log-energy embeddings. One call is one evaluation of
the field; a whole sample with a fixed-step ODE solver costs ``steps`` such calls (Euler) or
twice that (midpoint).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """Fixed sin/cos features of a scalar per row, then a learned projection."""

    freqs: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs)
        self.proj = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU())

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        arg = s * self.freqs
        return self.proj(torch.cat([torch.sin(arg), torch.cos(arg)], dim=1))


class VelocityField(nn.Module):
    """MLP velocity field on the voxels, conditioned on time and incident energy."""

    def __init__(self, voxels: int, hidden: int, layers: int, embed: int = 64) -> None:
        super().__init__()
        self.time = SinusoidalEmbedding(embed)
        self.energy = SinusoidalEmbedding(embed)
        widths = [voxels + 2 * embed] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            body += [nn.Linear(a, b), nn.SiLU()]
        self.body = nn.Sequential(*body, nn.Linear(hidden, voxels))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
        cond = [self.time(t), self.energy(torch.log(energy))]
        return self.body(torch.cat([x_t, *cond], dim=1))


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The velocity field with seeded weights, in eval mode."""
    if name != "calo_flow":
        raise KeyError(name)
    torch.manual_seed(0)
    model = VelocityField(int(params["voxels"]), int(params["hidden"]), int(params["layers"]))
    return model.eval()
