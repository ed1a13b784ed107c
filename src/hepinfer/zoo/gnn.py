"""gnn_tau: a graph network tau tagger on detector images, exportable without torch_geometric.

Three forms of the same network (``form`` option):
- ``knn``: padded nodes [B,N,F], pixel coordinates [B,N,2] and a mask [B,N]; the model finds
  each node's k nearest nodes itself (pairwise distances + TopK, as ParticleNet does);
- ``indices``: padded nodes, neighbour indices [B,N,k] computed outside, and the mask;
- ``flat``: the nodes of all graphs of a batch stacked [n_nodes,F], edges [2,n_edges]
  (source, target), each node's graph index [n_nodes] and the node count per graph [B];
  messages are summed with ScatterElements (reduction add), as the seed presentation has it.

Ties between equally distant pixels are broken towards the lower node index by adding
``j / (2N)`` to squared pixel distances (integers, so the order is otherwise unchanged); the
builders in ``hepinfer.zoo.images`` use the same rule, so one image gives one graph everywhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import nn

from hepinfer.zoo.layers import randomise_norm_stats

# Distance added to padding nodes' coordinates: beyond any real pixel pair.
PAD_SHIFT = 1.0e4


class MessagePassing(nn.Module):
    """h_i' = ReLU(W_l mean_j h_j + W_r h_i), then batch norm (masked by the caller)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.lin_l = nn.Linear(cin, cout)
        self.lin_r = nn.Linear(cin, cout, bias=False)
        self.bn = nn.BatchNorm1d(cout)

    def combine(self, mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.lin_l(mean) + self.lin_r(x))
        return self.bn(h.reshape(-1, h.shape[-1])).reshape(h.shape)


def padded_knn(coords: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """Indices [B,N,k] of each node's k nearest other nodes by pixel coordinates [B,N,2]."""
    n = coords.shape[1]
    pts = coords + (1.0 - mask).unsqueeze(-1) * PAD_SHIFT
    sq = (pts * pts).sum(-1)
    dist = sq.unsqueeze(2) - 2.0 * torch.matmul(pts, pts.transpose(1, 2)) + sq.unsqueeze(1)
    ties = torch.arange(n, dtype=coords.dtype, device=coords.device) / (2.0 * n)
    return torch.topk(dist + ties, k + 1, dim=-1, largest=False)[1][:, :, 1:]


class GNNTauPadded(nn.Module):
    """Padded form: neighbour indices given, or found in the model from coordinates."""

    def __init__(self, features: int, hidden: int, classes: int, k: int, in_model_knn: bool) -> None:
        super().__init__()
        self.k = k
        self.in_model_knn = in_model_knn
        widths = [features, hidden, hidden, hidden]
        self.layers = nn.ModuleList(MessagePassing(a, b) for a, b in itertools.pairwise(widths))
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, nodes: torch.Tensor, graph: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        idx = padded_knn(graph, mask, self.k) if self.in_model_knn else graph
        batch, n, k = idx.shape
        flat = (idx + torch.arange(batch, device=idx.device).view(-1, 1, 1) * n).reshape(-1)
        m = mask.unsqueeze(-1)
        x = nodes * m
        for layer in self.layers:
            nbr = x.reshape(batch * n, -1)[flat].reshape(batch, n, k, -1)
            x = cast(MessagePassing, layer).combine(nbr.mean(dim=2), x) * m
        count = m.sum(dim=1).clamp(min=1.0)
        mean = x.sum(dim=1) / count
        top = (x + (m - 1.0) * 1e9).max(dim=1).values
        return self.head(torch.cat([mean, top], dim=1))


class GNNTauFlat(nn.Module):
    """Flat form: stacked nodes, an edge list and graph indices, aggregated by scatter-add."""

    def __init__(self, features: int, hidden: int, classes: int) -> None:
        super().__init__()
        widths = [features, hidden, hidden, hidden]
        self.layers = nn.ModuleList(MessagePassing(a, b) for a, b in itertools.pairwise(widths))
        self.head = nn.Linear(2 * hidden, classes)

    def forward(
        self,
        nodes: torch.Tensor,
        edges: torch.Tensor,
        node_graph: torch.Tensor,
        graph_sizes: torch.Tensor,
    ) -> torch.Tensor:
        src, dst = edges[0], edges[1]
        ones = torch.ones_like(dst, dtype=nodes.dtype).unsqueeze(1)
        degree = torch.zeros_like(nodes[:, :1]).scatter_add(0, dst.unsqueeze(1), ones).clamp(min=1.0)
        x = nodes
        for layer in self.layers:
            msg = x[src]
            agg = torch.zeros(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
            agg = agg.scatter_add(0, dst.unsqueeze(1).expand(-1, x.shape[1]), msg)
            x = cast(MessagePassing, layer).combine(agg / degree, x)
        width = x.shape[1]
        index = node_graph.unsqueeze(1).expand(-1, width)
        base = torch.zeros(graph_sizes.shape[0], width, dtype=x.dtype, device=x.device)
        mean = base.scatter_add(0, index, x) / graph_sizes.unsqueeze(1).clamp(min=1.0)
        top = (base - 1e9).scatter_reduce(0, index, x, reduce="amax", include_self=True)
        return self.head(torch.cat([mean, top], dim=1))


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """gnn_tau in the chosen form, with seeded weights and batch-norm statistics, in eval mode."""
    if name != "gnn_tau":
        raise KeyError(name)
    torch.manual_seed(0)
    features = int(params["channels"]) + 2
    hidden, classes, k = int(params["hidden"]), int(params["classes"]), int(params["k"])
    form = str(params["form"])
    model: nn.Module
    if form == "flat":
        model = GNNTauFlat(features, hidden, classes)
    else:
        model = GNNTauPadded(features, hidden, classes, k, in_model_knn=form == "knn")
    randomise_norm_stats(model)
    return model.eval()
