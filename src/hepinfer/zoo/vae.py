"""PyTorch definitions of the anomaly-detection VAEs (../shared/zoo-spec.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def _block(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.ReLU())


class EventVAE(nn.Module):
    """DarkMachines event-level convolutional VAE; z is the mean, so outputs are deterministic."""

    def __init__(self, rows: int = 32, latent: int = 15) -> None:
        super().__init__()
        self.rows = rows
        self.flat = 8 * (rows - 12)
        self.encoder = nn.Sequential(
            _block(nn.Conv2d(1, 32, (3, 4)), 32),
            _block(nn.Conv2d(32, 16, (5, 1)), 16),
            _block(nn.Conv2d(16, 8, (7, 1)), 8),
        )
        self.dense = nn.Sequential(nn.Linear(self.flat + 1, 20), nn.BatchNorm1d(20), nn.ReLU())
        self.mu = nn.Linear(20, latent)
        self.logvar = nn.Linear(20, latent)
        self.decode_dense = nn.Sequential(
            nn.Linear(latent, 20),
            nn.BatchNorm1d(20),
            nn.ReLU(),
            nn.Linear(20, self.flat + 1),
            nn.BatchNorm1d(self.flat + 1),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            _block(nn.ConvTranspose2d(8, 16, (7, 1)), 16),
            _block(nn.ConvTranspose2d(16, 32, (5, 1)), 32),
            nn.ConvTranspose2d(32, 1, (3, 4)),
        )

    def forward(self, objects: torch.Tensor, met: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h = self.encoder(objects).flatten(1)
        h = self.dense(torch.cat([h, met], dim=1))
        mu, logvar = self.mu(h), self.logvar(h)
        d = self.decode_dense(mu)[:, : self.flat]
        recon = self.decoder(d.reshape(-1, 8, self.rows - 12, 1))
        return recon, mu, logvar


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The VAE of that name with seeded weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    if name == "event_vae":
        model: nn.Module = EventVAE(rows=int(params["R"]))
    else:
        raise KeyError(name)
    _randomise_norm_stats(model)
    return model.eval()


def _randomise_norm_stats(model: nn.Module) -> None:
    """Give batch norms trained-looking statistics, so that a fused export is really tested."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
