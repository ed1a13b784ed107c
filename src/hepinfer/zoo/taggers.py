"""PyTorch definitions of the CMS jet and tau taggers (../shared/zoo-spec.md).

Input names and layouts follow the real exports in ../shared/models where there is one
(DeepAK8: ``pfcand``/``sv``; DeepJet and DeepDoubleX: ``input_1``..), so that our exports
can be swapped for the real files.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hepinfer.zoo.layers import randomise_norm_stats

# ---------------------------------------------------------------------------------------------
# DeepAK8: MXNet pre-activation 1D ResNet over [B, C, N, 1] inputs.


def _conv31(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, (3, 1), stride=(stride, 1), padding=(1, 0), bias=False)


class ResUnit(nn.Module):
    """BN, ReLU, conv(stride), BN, ReLU, conv; a 1x1 shortcut conv after the first ReLU."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = _conv31(cin, cout, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = _conv31(cout, cout)
        self.sc = nn.Conv2d(cin, cout, 1, stride=(stride, 1), bias=False) if shortcut else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(x))
        h = self.conv2(torch.relu(self.bn2(self.conv1(a))))
        return h + (self.sc(a) if self.sc is not None else x)


class ResBranch(nn.Module):
    """BN of the inputs, a first conv, stages of two units each, BN, ReLU, global mean."""

    def __init__(self, cin: int, first: int, stages: list[tuple[int, int]]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm2d(cin), _conv31(cin, first)]
        width = first
        for cout, stride in stages:
            layers += [ResUnit(width, cout, stride, True), ResUnit(cout, cout, 1, False)]
            width = cout
        layers += [nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class DeepAK8(nn.Module):
    """DeepAK8 V02: pfcand [B,42,100,1] and sv [B,15,7,1] -> softmax over 17 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.pf = ResBranch(42, 64, [(64, 1), (64, 2), (128, 2)])
        self.sv = ResBranch(15, 32, [(32, 1), (64, 2)])
        self.head = nn.Sequential(
            nn.Linear(192, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 17), nn.Softmax(dim=1)
        )

    def forward(self, pfcand: torch.Tensor, sv: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.pf(pfcand), self.sv(sv)], dim=1))


# ---------------------------------------------------------------------------------------------
# DeepJet (DeepFlavour), as the PyTorch Run-3 training writes it.


def _conv_stack(widths: list[int]) -> nn.Sequential:
    """1x1 Conv1d + BN + ReLU, the last conv without BN."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Conv1d(a, b, 1))
        if i < len(widths) - 2:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DeepJet(nn.Module):
    """DeepJet: global [B,15], charged [B,25,16], neutral [B,25,6], SV [B,4,12], jet pT [B,1].

    Outputs the 6 flavour probabilities and the jet pT passed through, as the real export does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.global_bn = nn.BatchNorm1d(15)
        self.cpf_in = nn.BatchNorm1d(16)
        self.npf_in = nn.BatchNorm1d(6)
        self.vtx_in = nn.BatchNorm1d(12)
        self.cpf_conv = _conv_stack([16, 64, 32, 32, 8])
        self.npf_conv = _conv_stack([6, 32, 16, 4])
        self.vtx_conv = _conv_stack([12, 64, 32, 32, 8])
        self.cpf_lstm = nn.LSTM(8, 150, batch_first=True)
        self.npf_lstm = nn.LSTM(4, 50, batch_first=True)
        self.vtx_lstm = nn.LSTM(8, 50, batch_first=True)
        self.cpf_bn = nn.BatchNorm1d(150)
        self.npf_bn = nn.BatchNorm1d(50)
        self.vtx_bn = nn.BatchNorm1d(50)
        dense: list[nn.Module] = []
        for a, b in zip([265, 200] + [100] * 6, [200] + [100] * 7, strict=True):
            dense += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(0.1)]
        self.dense = nn.Sequential(*dense, nn.Linear(100, 6), nn.Softmax(dim=1))

    @staticmethod
    def _branch(
        x: torch.Tensor, bn: nn.Module, conv: nn.Module, lstm: nn.LSTM, out_bn: nn.Module
    ) -> torch.Tensor:
        h = conv(bn(x.transpose(1, 2))).transpose(1, 2)  # [B, N, C]
        _, (last, _) = lstm(h)
        return out_bn(last[0])

    def forward(
        self,
        input_1: torch.Tensor,
        input_2: torch.Tensor,
        input_3: torch.Tensor,
        input_4: torch.Tensor,
        input_5: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cpf = self._branch(input_2, self.cpf_in, self.cpf_conv, self.cpf_lstm, self.cpf_bn)
        npf = self._branch(input_3, self.npf_in, self.npf_conv, self.npf_lstm, self.npf_bn)
        vtx = self._branch(input_4, self.vtx_in, self.vtx_conv, self.vtx_lstm, self.vtx_bn)
        x = torch.cat([self.global_bn(input_1), cpf, npf, vtx], dim=1)
        return self.dense(x), input_5 * 1.0


# ---------------------------------------------------------------------------------------------
# DeepDoubleX (Keras original): conv + reversed-GRU branches.


class GRUBranch(nn.Module):
    """BN, Conv1d(->32, k1, no bias) + ReLU, Conv1d(32->32) + ReLU, GRU(50) read backwards."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(features)
        self.conv = nn.Sequential(
            nn.Conv1d(features, 32, 1, bias=False), nn.ReLU(),
            nn.Conv1d(32, 32, 1, bias=False), nn.ReLU(),
        )  # fmt: skip
        self.gru = nn.GRU(32, 50, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.bn(x.transpose(1, 2))).transpose(1, 2)
        _, last = self.gru(torch.flip(h, dims=[1]))  # Keras go_backwards=True
        return last[0]


class DeepDoubleX(nn.Module):
    """DeepDoubleX: 102X V02 (db [B,1,5], pf [B,60,8], cpf [B,40,21], sv [B,5,7]) or
    94X V01 DDB (db [B,1,27], cpf [B,60,8], sv [B,5,2]); -> 2 probabilities."""

    def __init__(self, version: str = "102X") -> None:
        super().__init__()
        self.version = version
        db, branches = (5, [8, 21, 7]) if version == "102X" else (27, [8, 2])
        self.db_bn = nn.BatchNorm1d(db)
        self.branches = nn.ModuleList(GRUBranch(f) for f in branches)
        self.head = nn.Sequential(
            nn.Linear(db + 50 * len(branches), 100), nn.ReLU(), nn.Linear(100, 2), nn.Softmax(dim=1)
        )

    def _forward(self, input_1: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
        parts = [self.db_bn(input_1.flatten(1))]
        parts += [b(x) for b, x in zip(self.branches, others, strict=True)]
        return self.head(torch.cat(parts, dim=1))


class DeepDoubleX102(DeepDoubleX):
    """102X V02: four named inputs (torch.export needs a fixed signature)."""

    def forward(
        self,
        input_1: torch.Tensor,
        input_2: torch.Tensor,
        input_3: torch.Tensor,
        input_4: torch.Tensor,
    ) -> torch.Tensor:
        return self._forward(input_1, input_2, input_3, input_4)


class DeepDoubleX94(DeepDoubleX):
    """94X V01 (rootbench DDB): three named inputs."""

    def forward(self, input_1: torch.Tensor, input_2: torch.Tensor, input_3: torch.Tensor) -> torch.Tensor:
        return self._forward(input_1, input_2, input_3)


# ---------------------------------------------------------------------------------------------
# DeepTau v2 (Keras original): dense tau branch + 1x1 and 3x3 convs on eta-phi grids.


def _dense_block(a: int, b: int) -> list[nn.Module]:
    return [nn.Linear(a, b), nn.BatchNorm1d(b), nn.PReLU(b), nn.Dropout(0.2)]


def _conv_block(a: int, b: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(a, b, kernel), nn.BatchNorm2d(b), nn.PReLU(b), nn.Dropout(0.2)]


def _chain(widths: list[int], block: Any) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += block(a, b)
    return nn.Sequential(*layers)


DEEPTAU_GRIDS = {
    "egamma": [86, 207, 129, 104],
    "muon": [64, 154, 96, 77],
    "hadrons": [38, 92, 57, 46],
}


class TauGrid(nn.Module):
    """One grid (inner 11x11 or outer 21x21): per-kind 1x1 convs, merge, 3x3 convs to 1x1."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.kinds = nn.ModuleList(
            _chain(w, lambda a, b: _conv_block(a, b, 1)) for w in DEEPTAU_GRIDS.values()
        )
        merged = sum(w[-1] for w in DEEPTAU_GRIDS.values())
        # The spec's text says 227 -> 141 -> 88 -> 64, but its parameter counts (trainable and
        # with statistics, both exactly) need a first 227 -> 227 layer: DeepTau v2 has it.
        self.merge = _chain([merged, merged, 141, 88, 64], lambda a, b: _conv_block(a, b, 1))
        self.reduce = nn.Sequential(*[m for _ in range((size - 1) // 2) for m in _conv_block(64, 64, 3)])

    def forward(self, *grids: torch.Tensor) -> torch.Tensor:
        # Keras grids are channels-last [B,H,W,C].
        parts = [f(g.permute(0, 3, 1, 2)) for f, g in zip(self.kinds, grids, strict=True)]
        return self.reduce(self.merge(torch.cat(parts, dim=1))).flatten(1)


class DeepTau(nn.Module):
    """DeepTau v2: tau [B,47] and six grids -> (e, mu, tau, jet) probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.tau = _chain([47, 113, 80, 57], _dense_block)
        self.inner = TauGrid(11)
        self.outer = TauGrid(21)
        self.head = nn.Sequential(
            _chain([185, 200, 200, 200, 200], _dense_block), nn.Linear(200, 4), nn.Softmax(dim=1)
        )

    def forward(
        self,
        input_tau: torch.Tensor,
        input_inner_egamma: torch.Tensor,
        input_inner_muon: torch.Tensor,
        input_inner_hadrons: torch.Tensor,
        input_outer_egamma: torch.Tensor,
        input_outer_muon: torch.Tensor,
        input_outer_hadrons: torch.Tensor,
    ) -> torch.Tensor:
        inner = self.inner(input_inner_egamma, input_inner_muon, input_inner_hadrons)
        outer = self.outer(input_outer_egamma, input_outer_muon, input_outer_hadrons)
        return self.head(torch.cat([self.tau(input_tau), inner, outer], dim=1))


# ---------------------------------------------------------------------------------------------
# b-jet energy regression (Keras original).


class BReg(nn.Module):
    """b-jet energy regression: [B,43] -> (correction, 25% quantile, 75% quantile)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.BatchNorm1d(43)]
        for a, b in zip([43, 1024, 1024, 1024, 512, 256], [1024, 1024, 1024, 512, 256, 128], strict=True):
            layers += [
                nn.Linear(a, b, bias=False),
                nn.BatchNorm1d(b),
                nn.LeakyReLU(0.2),
                nn.Dropout(0.1),
            ]
        self.body = nn.Sequential(*layers, nn.Linear(128, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The tagger of that name with seeded weights and batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model: nn.Module
    if name == "deepak8":
        model = DeepAK8()
    elif name == "deepjet":
        model = DeepJet()
    elif name == "deepdoublex":
        version = str(params["version"])
        model = DeepDoubleX102(version) if version == "102X" else DeepDoubleX94(version)
    elif name == "deeptau":
        model = DeepTau()
    elif name == "breg":
        model = BReg()
    else:
        raise KeyError(name)
    randomise_norm_stats(model)
    return model.eval()
