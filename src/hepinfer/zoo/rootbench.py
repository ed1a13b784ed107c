"""PyTorch definitions of the ROOT TMVA SOFIE benchmark models (rootbench)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


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


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """The rootbench model of that name, with seeded weights, in eval mode."""
    torch.manual_seed(0)
    if name == "linear_event":
        model = mlp([100] + [50] * 9 + [10])
    elif name == "higgs_model_dense":
        model = mlp([7] + [100] * 5 + [2], final=nn.Sigmoid())
    else:
        raise KeyError(name)
    return model.eval()
