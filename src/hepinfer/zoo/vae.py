"""PyTorch definitions of the anomaly-detection VAEs (../shared/zoo-spec.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hepinfer.zoo.layers import randomise_norm_stats


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


# Fixed standardisation of the jet VAE's (eta, phi, pT) inputs, from its training set.
JET_MU = (-2.5694e-4, 3.9219e-7, 3.16195)
JET_SIGMA = (0.236105, 0.239510, 14.948415)


class JetVAE(nn.Module):
    """Jet-level convolutional VAE (dijet anomaly detection), one jet of 100 particles per row.

    Keras layout throughout: the input is [B,100,3] (particles, features); the first
    convolution spans the three features, as the original Conv2D with kernel (1,3) does.
    z is the mean, so outputs are deterministic.
    """

    mu: torch.Tensor
    sigma: torch.Tensor

    def __init__(self, particles: int = 100, latent: int = 12) -> None:
        super().__init__()
        self.particles = particles
        self.register_buffer("mu", torch.tensor(JET_MU))
        self.register_buffer("sigma", torch.tensor(JET_SIGMA))
        pooled = (particles - 4) // 2
        self.pooled = pooled
        self.conv_in = nn.Conv2d(1, 12, (1, 3))
        self.encoder = nn.Sequential(
            nn.Conv1d(12, 16, 3), nn.ELU(), nn.Conv1d(16, 20, 3), nn.ELU(), nn.AvgPool1d(2),
        )  # fmt: skip
        self.dense = nn.Sequential(nn.Linear(pooled * 20, 204), nn.ELU(), nn.Linear(204, 48), nn.ELU())
        self.z_mean = nn.Linear(48, latent)
        self.z_log_var = nn.Linear(48, latent)
        self.decode_dense = nn.Sequential(
            nn.Linear(latent, 48), nn.ELU(), nn.Linear(48, 204), nn.ELU(),
            nn.Linear(204, pooled * 20), nn.ELU(),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2.0, mode="nearest"),
            nn.ConvTranspose1d(20, 16, 3), nn.ELU(), nn.ConvTranspose1d(16, 12, 3), nn.ELU(),
        )  # fmt: skip
        self.conv_out = nn.ConvTranspose2d(12, 1, (1, 3))

    def forward(self, jet: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = (jet - self.mu) / self.sigma
        h = nn.functional.elu(self.conv_in(x.unsqueeze(1))).squeeze(-1)  # [B,12,P]
        h = self.encoder(h)  # [B,20,P/2-2]
        h = self.dense(h.transpose(1, 2).flatten(1))  # Keras flattens channels-last
        z_mean, z_log_var = self.z_mean(h), self.z_log_var(h)
        d = self.decode_dense(z_mean).view(-1, self.pooled, 20).transpose(1, 2)
        d = self.decoder(d).unsqueeze(-1)  # [B,12,P,1]
        recon = self.conv_out(d).squeeze(1)  # [B,P,3]
        return recon * self.sigma + self.mu, z_mean, z_log_var


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The VAE of that name: seeded weights, non-trivial batch-norm statistics, eval mode."""
    torch.manual_seed(0)
    model: nn.Module
    if name == "event_vae":
        model = EventVAE(rows=int(params["R"]))
    elif name == "jet_vae":
        model = JetVAE()
    else:
        raise KeyError(name)
    randomise_norm_stats(model)
    return model.eval()
