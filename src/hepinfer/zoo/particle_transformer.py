"""particle_transformer: weaver-core's ParticleTransformer (ParT), as CMS runs it for inference.

A faithful port of ``weaver.nn.model.ParticleTransformer.ParticleTransformer`` (weaver-core
0.5.3, MIT licence) with the configuration of the jet-tagging paper and ``for_inference=True``
(the ONNX-export path: dense pair embedding on lower-triangle pairs, no sequence trimming,
softmax on the output): particle embedding (128, 512, 128), pairwise-feature embedding
(64, 64, 64) of (ln kT, ln z, ln Delta, ln m^2) from the four-vectors, 8 particle-attention
blocks and 2 class-attention blocks with 8 heads, fc to the classes. Module and parameter
names are weaver's, so a weaver state dict loads into it (a test does, and compares outputs);
nothing here imports weaver.

The pairwise features take logs and atan2 of quantities that are zero on padded particles:
PyTorch's atan2(0, 0) is 0, but the legacy ONNX exporter writes atan2 as Atan(y/x) with
corrections, which is NaN at 0/0 in ONNX Runtime, so that export gives NaN on every padded
event. ``hepinfer validate`` flags it (new NaN against the reference); the dynamo exporter's
Atan2 has no such hole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

# --- pairwise features (weaver's pairwise_lv_fts_pp, 4 outputs) ---------------------------------


def _delta_phi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _to_pt2(x: torch.Tensor, eps: float | None = 1e-8) -> torch.Tensor:
    pt2 = x[:, :2].square().sum(dim=1, keepdim=True)
    return pt2.clamp(min=eps) if eps is not None else pt2


def _to_m2(x: torch.Tensor, eps: float | None = 1e-8) -> torch.Tensor:
    m2 = x[:, 3:4].square() - x[:, :3].square().sum(dim=1, keepdim=True)
    return m2.clamp(min=eps) if eps is not None else m2


def _pt_rap_phi(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    px, py, pz, energy = x.split((1, 1, 1, 1), dim=1)
    pt = torch.sqrt(_to_pt2(x, eps=None))
    rapidity = 0.5 * torch.log(1 + (2 * pz) / (energy - pz).clamp(min=1e-20))
    phi = torch.atan2(py, px)  # atan2(0, 0) on padded particles: see the module docstring
    return pt, rapidity, phi


def pairwise_features(xi: torch.Tensor, xj: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(ln kT, ln z, ln Delta, ln m^2) of particle pairs from their (px, py, pz, E)."""
    pti, rapi, phii = _pt_rap_phi(xi)
    ptj, rapj, phij = _pt_rap_phi(xj)
    delta = ((rapi - rapj) ** 2 + _delta_phi(phii, phij) ** 2).sqrt()
    lndelta = torch.log(delta.clamp(min=eps))
    ptmin = torch.minimum(pti, ptj)
    lnkt = torch.log((ptmin * delta).clamp(min=eps))
    lnz = torch.log((ptmin / (pti + ptj).clamp(min=eps)).clamp(min=eps))
    lnm2 = torch.log(_to_m2(xi + xj, eps=eps))
    return torch.cat([lnkt, lnz, lndelta, lnm2], dim=1)


def _tril_indices(n: int, device: torch.device) -> torch.Tensor:
    # weaver's ONNX-friendly tril_indices (torch.tril_indices has no ONNX translation).
    return torch.ones(n, n, dtype=torch.long, device=device).tril(0).nonzero().T


# --- layers -------------------------------------------------------------------------------------


class Embed(nn.Module):
    """BatchNorm of the inputs, then (LayerNorm, Linear, GELU) per width."""

    def __init__(self, input_dim: int, dims: Sequence[int]) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm1d(input_dim)
        self.conv_embed = nn.Identity()
        layers: list[nn.Module] = []
        for dim in dims:
            layers += [nn.LayerNorm(input_dim), nn.Linear(input_dim, dim), nn.GELU()]
            input_dim = dim
        self.embed = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_embed(self.input_bn(x)).transpose(1, 2).contiguous()
        return self.embed(x)


class PairEmbed(nn.Module):
    """Pairwise features on lower-triangle pairs, 1x1 convs (pre-activation output), symmetric."""

    def __init__(self, dims: Sequence[int], input_dim: int = 4) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.out_dim = dims[-1]
        layers: list[nn.Module] = [nn.BatchNorm1d(input_dim)]
        for dim in dims:
            layers += [nn.Conv1d(input_dim, dim, 1), nn.BatchNorm1d(dim), nn.GELU()]
            input_dim = dim
        self.embed = nn.Sequential(*layers[:-1])  # use_pre_activation_pair

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        batch, _, seq_len = v.shape
        if torch.compiler.is_exporting():
            # torch.export cannot trace the triangle's nonzero (a data-dependent size): every
            # pair instead, as weaver's non-symmetric path does (the same values, twice the work).
            every = pairwise_features(v.unsqueeze(-1), v.unsqueeze(-2))
            flat = self.embed(every.reshape(batch, self.input_dim, seq_len * seq_len))
            return flat.reshape(batch, self.out_dim, seq_len, seq_len)
        i, j = _tril_indices(seq_len, v.device)
        elements = self.embed(pairwise_features(v[:, :, i], v[:, :, j]))
        y = elements.new_zeros(batch, self.out_dim, seq_len, seq_len)
        y[:, :, i, j] = elements
        y[:, :, j, i] = elements
        return y


class Attention(nn.Module):
    """Multi-head attention with packed in-projection (weaver's, SDPA path)."""

    def __init__(self, embed_dim: int, num_heads: int) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.q_norm = self.k_norm = nn.Identity()

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
        key_padding_mask: torch.Tensor, attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        bsz, tgt_len, _ = query.shape
        src_len = key.shape[1]
        pad = torch.zeros_like(key_padding_mask, dtype=query.dtype).masked_fill_(
            key_padding_mask, float("-inf")
        )
        mask = pad.view(bsz, 1, 1, src_len).expand(-1, self.num_heads, -1, -1)
        if attn_mask is not None:
            mask = attn_mask + mask
        # weaver calls the same private helper: one matmul for self-attention, q and kv split else
        q, k, v = F._in_projection_packed(  # type: ignore[attr-defined]
            query, key, value, self.in_proj.weight, self.in_proj.bias
        )
        q = self.q_norm(q.view(bsz, tgt_len, self.num_heads, self.head_dim)).transpose(1, 2)
        k = self.k_norm(k.view(bsz, src_len, self.num_heads, self.head_dim)).transpose(1, 2)
        v = v.view(bsz, src_len, self.num_heads, self.head_dim).transpose(1, 2)
        if torch.compiler.is_exporting():
            # weaver's path without SDPA: torch.export's decomposition of SDPA loses the
            # layout the transpose below needs (a view error in torch 2.13). The softmax is
            # spelled out: an op named "softmax" here would collide with the output's name.
            logits = (q * self.head_dim**-0.5) @ k.transpose(-2, -1) + mask
            weight = torch.exp(logits - logits.amax(dim=-1, keepdim=True))
            out = (weight / weight.sum(dim=-1, keepdim=True)) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, mask, 0.0)
        out = out.transpose(1, 2).reshape(bsz, tgt_len, self.embed_dim)
        return self.out_proj(out)


class Block(nn.Module):
    """Pre-norm attention and feed-forward block with ParT's extra norms and scalings."""

    def __init__(
        self, embed_dim: int = 128, num_heads: int = 8, ffn_ratio: int = 4, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.ffn_dim = embed_dim * ffn_ratio
        self.pre_attn_norm = nn.LayerNorm(embed_dim)
        self.attn = Attention(embed_dim, num_heads)
        self.post_attn_norm = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)
        self.pre_fc_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, self.ffn_dim)
        self.act = nn.GELU()
        self.act_dropout = nn.Dropout(dropout)
        self.post_fc_norm = nn.LayerNorm(self.ffn_dim)
        self.fc2 = nn.Linear(self.ffn_dim, embed_dim)
        self.c_attn = nn.Parameter(torch.ones(num_heads))
        self.w_resid = nn.Parameter(torch.ones(embed_dim))

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor, x_cls: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        if x_cls is not None:  # class attention
            padding_mask = torch.cat((torch.zeros_like(padding_mask[:, :1]), padding_mask), dim=1)
            residual = x_cls
            u = self.pre_attn_norm(torch.cat((x_cls, x), dim=1))
            x = self.attn(x_cls, u, u, key_padding_mask=padding_mask)
        else:
            residual = x
            x = self.pre_attn_norm(x)
            x = self.attn(x, x, x, key_padding_mask=padding_mask, attn_mask=attn_mask)
        bsz, tgt_len, _ = x.shape
        x = x.view(bsz, tgt_len, self.num_heads, self.head_dim) * self.c_attn.view(1, 1, self.num_heads, 1)
        x = self.dropout(self.post_attn_norm(x.reshape(bsz, tgt_len, self.embed_dim)))
        x = x + residual
        residual = x
        x = self.act_dropout(self.act(self.fc1(self.pre_fc_norm(x))))
        x = self.dropout(self.fc2(self.post_fc_norm(x)))
        return x + torch.mul(self.w_resid, residual)


class ParticleTransformer(nn.Module):
    """ParT: embeddings, 8 particle-attention blocks with the pair bias, 2 class-attention blocks."""

    def __init__(
        self, input_dim: int, num_classes: int, embed_dims: Sequence[int] = (128, 512, 128),
        pair_embed_dims: Sequence[int] = (64, 64, 64), num_heads: int = 8, num_layers: int = 8,
        num_cls_layers: int = 2,
    ) -> None:  # fmt: skip
        super().__init__()
        embed_dim = embed_dims[-1]
        self.embed = Embed(input_dim, embed_dims)
        self.pair_embed = PairEmbed((*pair_embed_dims, num_heads))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads) for _ in range(num_layers))
        self.cls_blocks = nn.ModuleList(
            Block(embed_dim, num_heads, dropout=0.0) for _ in range(num_cls_layers)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.fc = nn.Sequential(nn.Linear(embed_dim, num_classes))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        _named_apply(_init_moco, self)
        for layer_id, module in enumerate(self.blocks):  # weaver's fix_init_weight
            layer = cast(Block, module)
            layer.attn.out_proj.weight.data.div_(math.sqrt(2.0 * (layer_id + 1)))
            layer.fc2.weight.data.div_(math.sqrt(2.0 * (layer_id + 1)))

    def forward(
        self, pf_features: torch.Tensor, pf_vectors: torch.Tensor, pf_mask: torch.Tensor
    ) -> torch.Tensor:
        mask = pf_mask.bool()
        padding_mask = ~mask.squeeze(1)
        x = self.embed(pf_features).masked_fill(~mask.transpose(1, 2), 0)
        attn_mask = self.pair_embed(pf_vectors)
        for block in self.blocks:
            x = block(x, padding_mask, attn_mask=attn_mask)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        for block in self.cls_blocks:
            cls = block(x, padding_mask, x_cls=cls)
        return torch.softmax(self.fc(self.norm(cls.squeeze(1))), dim=1)


def _init_moco(module: nn.Module, name: str = "") -> None:
    if isinstance(module, nn.Linear):
        if "in_proj" in name:  # Q, K and V initialised separately
            val = math.sqrt(6.0 / float(module.weight.shape[0] // 3 + module.weight.shape[1]))
            nn.init.uniform_(module.weight, -val, val)
        else:
            nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _named_apply(fn: Callable[..., None], module: nn.Module, name: str = "", root: bool = False) -> None:
    for child_name, child in module.named_children():
        _named_apply(fn, child, f"{name}.{child_name}" if name else child_name, True)
    if root:
        fn(module=module, name=name)


def build(name: str, params: Mapping[str, Any]) -> nn.Module:
    """ParticleTransformer with seeded weights, trained-looking batch-norm statistics, eval mode."""
    from hepinfer.zoo.layers import randomise_norm_stats

    if name != "particle_transformer":
        raise KeyError(name)
    torch.manual_seed(0)
    model = ParticleTransformer(int(params["features"]), int(params["classes"]))
    randomise_norm_stats(model)
    return model.eval()
