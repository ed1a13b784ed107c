"""l1_ad_vae: the Level-1 trigger anomaly-detection VAE (../shared/zoo-spec.md, second round).

The kind of autoencoder the CMS L1 Global Trigger runs on FPGAs: 57 inputs (19 L1 objects x
(pT, eta, phi)), a dense encoder to an 8-dimensional latent space and a dense decoder. At L1
only the encoder runs and the anomaly score is sum(mu^2), the mean term of the KL divergence
(``variant=encoder``); ``variant=full`` is the training-time VAE. Both variants hold the same
encoder (the log sigma^2 head included, so that the trigger model is exactly the training
model's encoder; it is unused by the score and exporters drop it). z is the mean, so outputs
are deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

INPUTS = 57
LATENT = 8


class L1Encoder(nn.Module):
    """Dense 57->32 ReLU, 32->16 ReLU, heads 16->8 (mu, log sigma^2): 2,656 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.dense1 = nn.Linear(INPUTS, 32)
        self.dense2 = nn.Linear(32, 16)
        self.mu = nn.Linear(16, LATENT)
        self.log_var = nn.Linear(16, LATENT)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.dense2(torch.relu(self.dense1(x))))


class L1ADVAE(nn.Module):
    """The encoder, and for the full variant the decoder 8->16 ReLU, 16->32 ReLU, 32->57."""

    def __init__(self, variant: str = "encoder") -> None:
        super().__init__()
        self.variant = variant
        self.encoder = L1Encoder()
        self.decoder = (
            nn.Sequential(
                nn.Linear(LATENT, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, INPUTS)
            )
            if variant == "full"
            else None
        )  # fmt: skip

    def forward(self, objects: torch.Tensor) -> Any:
        h = self.encoder.hidden(objects)
        mu = self.encoder.mu(h)
        if self.decoder is None:
            return (mu * mu).sum(dim=1, keepdim=True)  # the L1 trigger score
        return self.decoder(mu), mu, self.encoder.log_var(h)


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """l1_ad_vae of the chosen variant with seeded weights (the same encoder in both), eval mode."""
    if name != "l1_ad_vae":
        raise KeyError(name)
    torch.manual_seed(0)
    return L1ADVAE(str(params["variant"])).eval()
