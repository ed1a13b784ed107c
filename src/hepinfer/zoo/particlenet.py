"""ParticleNet (EdgeConv on particle clouds), as weaver writes it and CMS exports it.

Variants: ``general`` (CMS ParticleNetAK8 General V01: PF and SV branches, fusion block,
20 classes), ``ak4`` (CMS ParticleNetAK4 CHS V01: the same with narrower blocks, 4
classes), ``paper`` (the paper's ParticleNet: 7 features, no fusion, 2 classes) and
``lite`` (ParticleNet-Lite: k=7, widths 32/64, fc 128). The kNN graph is built inside the
model with TopK, as in the real export, so any number of particles >= k+1 runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hepinfer.zoo.layers import gather_neighbours, knn_indices, randomise_norm_stats

# variant -> (k, conv widths per block, fc width, fusion, features, classes)
VARIANTS: dict[str, tuple[int, list[tuple[int, ...]], int, bool, int, int]] = {
    "general": (16, [(64, 64, 64), (128, 128, 128), (256, 256, 256)], 256, True, 25, 20),
    "paper": (16, [(64, 64, 64), (128, 128, 128), (256, 256, 256)], 256, False, 7, 2),
    "lite": (7, [(32, 32, 32), (64, 64, 64)], 128, False, 7, 2),
    # CMS ParticleNetAK4 CHS V01: narrower blocks, 23 PF features, 4 classes.
    "ak4": (16, [(64, 64, 64), (96, 96, 96), (128, 128, 128)], 128, True, 23, 4),
}


class EdgeConv(nn.Module):
    """kNN on ``points``, edge features [x_i, x_j - x_i], 1x1 convs, mean, shortcut, ReLU."""

    def __init__(self, k: int, cin: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.k = k
        chans = [2 * cin, *widths]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 1, bias=False) for a, b in itertools.pairwise(chans))
        self.bns = nn.ModuleList(nn.BatchNorm2d(b) for b in widths)
        self.sc = nn.Conv1d(cin, widths[-1], 1, bias=False)
        self.sc_bn = nn.BatchNorm1d(widths[-1])

    def forward(self, points: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        idx = knn_indices(points, self.k)
        nbr = gather_neighbours(features, idx)
        centre = features.unsqueeze(-1).expand(-1, -1, -1, self.k)
        x = torch.cat([centre, nbr - centre], dim=1)
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = torch.relu(bn(conv(x)))
        return torch.relu(self.sc_bn(self.sc(features)) + x.mean(dim=-1))


class ParticleNet(nn.Module):
    """The EdgeConv stack on masked points/features, optional fusion, masked mean, fc."""

    def __init__(
        self, k: int, blocks: list[tuple[int, ...]], fc: int, fusion: bool, cin: int,
        classes: int, fts_bn: bool,
    ) -> None:  # fmt: skip
        super().__init__()
        self.bn_fts = nn.BatchNorm1d(cin) if fts_bn else None
        self.edge_convs = nn.ModuleList()
        width = cin
        for widths in blocks:
            self.edge_convs.append(EdgeConv(k, width, widths))
            width = widths[-1]
        self.fusion = None
        if fusion:
            total = sum(w[-1] for w in blocks)
            out = min(max((total // 128) * 128, 128), 1024)
            self.fusion = nn.Sequential(nn.Conv1d(total, out, 1, bias=False), nn.BatchNorm1d(out), nn.ReLU())
            width = out
        self.fc = nn.Sequential(
            nn.Linear(width, fc),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(fc, classes),
            nn.Softmax(dim=1),
        )

    def forward(self, points: torch.Tensor, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Padding is moved far away so that it is never a real particle's neighbour.
        shift = (mask == 0).to(points.dtype) * 1e9
        counts = mask.sum(dim=-1).clamp(min=1)
        fts = features * mask if self.bn_fts is None else self.bn_fts(features) * mask
        outputs = []
        for i, conv in enumerate(self.edge_convs):
            pts = (points if i == 0 else fts) + shift
            fts = conv(pts, fts) * mask
            outputs.append(fts)
        if self.fusion is not None:
            fts = self.fusion(torch.cat(outputs, dim=1)) * mask
        return self.fc(fts.sum(dim=-1) / counts)


class FeatureConv(nn.Module):
    """Per-branch embedding: BN(in), Conv1d(in->32, no bias), BN, ReLU."""

    def __init__(self, cin: int, cout: int = 32) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.BatchNorm1d(cin),
            nn.Conv1d(cin, cout, 1, bias=False),
            nn.BatchNorm1d(cout),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ParticleNetTagger(nn.Module):
    """CMS ParticleNet: PF and SV branches embedded to 32, concatenated along particles."""

    def __init__(self, k: int, variant: str = "general", sv_features: int = 11) -> None:
        super().__init__()
        _, blocks, fc, _, pf_features, classes = VARIANTS[variant]
        self.pf_conv = FeatureConv(pf_features)
        self.sv_conv = FeatureConv(sv_features)
        self.pn = ParticleNet(k, blocks, fc, True, 32, classes, fts_bn=False)

    def forward(
        self,
        pf_points: torch.Tensor,
        pf_features: torch.Tensor,
        pf_mask: torch.Tensor,
        sv_points: torch.Tensor,
        sv_features: torch.Tensor,
        sv_mask: torch.Tensor,
    ) -> torch.Tensor:
        points = torch.cat([pf_points, sv_points], dim=2)
        features = torch.cat(
            [
                self.pf_conv(pf_features * pf_mask) * pf_mask,
                self.sv_conv(sv_features * sv_mask) * sv_mask,
            ],
            dim=2,
        )
        return self.pn(points, features, torch.cat([pf_mask, sv_mask], dim=2))


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """ParticleNet of the chosen variant with seeded weights, in eval mode."""
    if name != "particlenet":
        raise KeyError(name)
    torch.manual_seed(0)
    variant = str(params["variant"])
    k_default, blocks, fc, fusion, cin, classes = VARIANTS[variant]
    k = int(params.get("k") or k_default)
    model: nn.Module
    if variant in ("general", "ak4"):
        model = ParticleNetTagger(k, variant)
    else:
        model = ParticleNet(k, blocks, fc, fusion, cin, classes, fts_bn=True)
    randomise_norm_stats(model)
    return model.eval()
