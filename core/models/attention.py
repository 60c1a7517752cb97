"""Transformer pieces of the LDM U-Net: cross-attention, GEGLU feed-forward, SpatialTransformer.

Attribute names equal the checkpoint keys (``attn1.to_q``, ``ff.net.0.proj``, ``proj_in`` ...), so a
state dict loads name for name. Math: Vaswani et al. 2017 (attention), Shazeer 2020 (GEGLU),
Rombach et al. 2022 §3.3 (cross-attention conditioning of the U-Net).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Multi-head attention on [B, T, heads*d] tensors through PyTorch's fused SDPA kernel."""
    b, tq, inner = q.shape
    d = inner // heads
    # [B, T, H*d] -> [B, H, T, d]
    q, k, v = (t.view(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v)
    return out.transpose(1, 2).reshape(b, tq, inner)  # [B, Tq, H*d]


class CrossAttention(nn.Module):
    """Self-attention when ``context`` is None, else attention from x (queries) to context (keys/values)."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads = heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        out = attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads)
        return self.to_out(out)


class GEGLU(nn.Module):
    """Gated GELU projection (Shazeer 2020): one Linear to 2*inner, half gates the other half."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        inner = dim * mult
        # keys: net.0.proj, net.2 (net.1 is the dropout of the original, kept for the numbering)
        self.net = nn.Sequential(GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """Pre-norm block: self-attention, cross-attention to the text context, feed-forward.

    ``patches["middle_patch"]``: callables ``p(x, extra_options) -> x`` run right after the self-attention
    residual (ComfyUI's hook name; GLIGEN's gated self-attention goes there, core/models/gligen.py).
    ``extra_options["path"]`` is this block's checkpoint path (``input_blocks.1.1.transformer_blocks.0``),
    set by the U-Net that owns it (``where``), with its ``transformer_index`` and ``block_index``."""

    where: dict = {}  # set per instance by UNetModel: path, transformer_index, block_index

    def __init__(self, dim: int, heads: int, dim_head: int, context_dim: int):
        super().__init__()
        self.attn1 = CrossAttention(dim, None, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, patches: dict | None = None) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        if patches:
            for patch in patches.get("middle_patch", ()):
                x = patch(x, self.where)
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """Image feature map -> tokens -> transformer blocks -> feature map, with a residual around it.

    SD1.x projects with 1x1 convolutions; SD2.x and SDXL with Linear layers (``use_linear``).
    """

    def __init__(self, channels: int, heads: int, dim_head: int, depth: int, context_dim: int,
                 use_linear: bool):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        if use_linear:
            self.proj_in = nn.Linear(channels, inner)
        else:
            self.proj_in = nn.Conv2d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth))
        if use_linear:
            self.proj_out = nn.Linear(inner, channels)
        else:
            self.proj_out = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor, patches: dict | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        x_in = x
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, H*W, C]
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context, patches)
        if self.use_linear:
            x = self.proj_out(x)
        # [B, H*W, C] -> [B, C, H, W], made contiguous: the view is channels-last, and a CPU conv fed
        # one re-lays its whole weight out on every call (costly at small latents)
        x = x.transpose(1, 2).reshape(b, -1, h, w).contiguous()
        if not self.use_linear:
            x = self.proj_out(x)
        return x + x_in
