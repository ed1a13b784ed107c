"""PyTorch definitions of the ROOT TMVA SOFIE benchmark models (rootbench)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hepinfer.zoo.layers import randomise_norm_stats


def mlp(widths: list[int], final: nn.Module | None = None) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them, and an optional last activation."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def conv_stack(channels: list[int]) -> nn.Sequential:
    """Conv2d 5x5 pad 2 + ReLU between consecutive channel counts (rootbench Conv_d100_L*)."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(channels):
        layers += [nn.Conv2d(a, b, 5, padding=2), nn.ReLU()]
    return nn.Sequential(*layers)


def conv3d_d32_l4() -> nn.Sequential:
    """rootbench Conv3d_d32_L4: four 3D convolutions, a strided one, then a dense layer."""
    return nn.Sequential(
        nn.Conv3d(1, 32, 5, padding=1), nn.ReLU(),
        nn.Conv3d(32, 8, 5, padding=1), nn.ReLU(),
        nn.Conv3d(8, 8, 5, padding=1), nn.ReLU(),
        nn.Conv3d(8, 8, 5, padding=1), nn.ReLU(),
        nn.Conv3d(8, 4, 6, stride=6), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 8),
    )  # fmt: skip


def convtrans2d() -> nn.Sequential:
    """rootbench ConvTrans2dModel: [B,1,4,4] -> [B,1,6,6]."""
    return nn.Sequential(
        nn.ConvTranspose2d(1, 4, 2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(4, 8, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 3, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(4, 1, 2, stride=2),
    )  # fmt: skip


class Generator(nn.Module):
    """Fast-calorimeter-simulation VAE decoder: latent + condition [B,14] -> 40,500 voxels."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in ((14, 20), (20, 50), (50, 100)):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2), nn.BatchNorm1d(b)]
        self.body = nn.Sequential(*layers, nn.Linear(100, 18 * 50 * 45), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Recurrent(nn.Module):
    """One recurrent layer (RNN, GRU or LSTM), hidden 8, then Linear 8->2 on the last step.

    The initial state is a zero buffer of one row expanded to the batch: the rootbench exports
    carry it as an 8-element initializer, which this reproduces in our exports.
    """

    h0: torch.Tensor

    def __init__(self, cell: str, features: int = 10, hidden: int = 8) -> None:
        super().__init__()
        self.cell = cell
        self.hidden = hidden
        kind = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn: nn.RNNBase = kind(features, hidden, batch_first=True)
        self.register_buffer("h0", torch.zeros(1, 1, hidden))
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.h0.expand(1, x.shape[0], self.hidden).contiguous()
        if self.cell == "lstm":
            out, _ = self.rnn(x, (h0, h0))
        else:
            out, _ = self.rnn(x, h0)
        return self.fc(out[:, -1])


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The rootbench model of that name, with seeded weights, in eval mode."""
    torch.manual_seed(0)
    model: nn.Module
    if name == "linear_event":
        model = mlp([100] + [50] * 9 + [10])
    elif name == "higgs_model_dense":
        model = mlp([7] + [100] * 5 + [2], final=nn.Sigmoid())
    elif name == "conv_d100_l1":
        model = conv_stack([1, 2])
    elif name == "conv_d100_l14":
        model = conv_stack([1, 2, 4, 8, 16, 32, 64, 128, 64, 32, 16, 8, 4, 2, 1])
    elif name == "conv3d_d32_l4":
        model = conv3d_d32_l4()
    elif name == "convtrans2d":
        model = convtrans2d()
    elif name == "generator":
        model = Generator()
        randomise_norm_stats(model)
    elif name in ("rnn_d10_l20_h8", "gru_d10_l20_h8", "lstm_d10_l20_h8"):
        model = Recurrent(name.split("_")[0])
    else:
        raise KeyError(name)
    return model.eval()
