"""Stable Diffusion 3 / 3.5's MM-DiT (Esser et al. 2024, "Scaling Rectified Flow Transformers"), in the
released single-file key layout (``sd3.5_large.safetensors``, ``sd3.5_medium.safetensors`` under
``model.diffusion_model.``: ``joint_blocks.0.x_block.attn.qkv.weight``, ``x_embedder.proj.weight``,
``pos_embed``, ``t_embedder.mlp.0.weight``, ``final_layer.adaLN_modulation.1.weight``, ...; manifests in
tests/data/reference/checkpoints/sd35_large.json and sd35_medium.json).

The network:
- the latent is cut into 2x2 patches by a strided convolution (``x_embedder.proj``) and a fixed 2-D
  sin-cos position table (``pos_embed``, a square of ``pos_embed_max_size`` patches) is added, cropped
  around its centre to the image's patch grid;
- a vector ``c`` = MLP(timestep) + MLP(pooled CLIP-L ++ CLIP-G) modulates every block (adaLN-Zero);
- ``depth`` joint blocks: image (``x_block``) and text (``context_block``) keep their own weights and
  attend jointly over [text; image]; the last block's text side only feeds the attention ("pre-only":
  no output projection, no MLP);
- SD3.5 adds RMS-normalised queries and keys per head (``ln_q``/``ln_k``) and, in MMDiT-X (Medium),
  a second image-only self-attention (``x_block.attn2``) in the first layers, modulated by three more
  adaLN outputs, whose input is the same normalised image tokens as the joint attention's.

Positions enter only through the additive table, so the attention itself is plain SDPA.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.flux import timestep_embedding


@dataclass(frozen=True)
class MMDiTConfig:
    in_channels: int = 16
    out_channels: int = 16
    patch_size: int = 2
    hidden_size: int = 2432  # SD3.5 Large; Medium 1536
    depth: int = 38  # Medium 24
    num_heads: int = 38  # 64 channels per head in every release
    mlp_ratio: float = 4.0
    context_in_dim: int = 4096  # T5-XXL width (CLIP-L ++ CLIP-G hidden states are zero-padded to it)
    pooled_dim: int = 2048  # pooled CLIP-L (768) ++ pooled CLIP-G (1280)
    pos_embed_max_size: int = 192  # Medium 384
    qk_norm: bool = True  # SD3.5: RMSNorm on q and k; SD3 Medium (3.0): none
    x_block_self_attn_layers: tuple = ()  # MMDiT-X (3.5 Medium): 0..12
    qkv_bias: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """[B, L, H*D] -> [B, H, L, D]."""
    B, L, _ = t.shape
    return t.reshape(B, L, heads, -1).transpose(1, 2)


def _modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class RMSNorm(nn.Module):
    """RMS normalisation with a learned gain ``weight`` (Zhang & Sennrich 2019), in float32."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)


class SelfAttention(nn.Module):
    """The per-stream half of an attention: fused qkv in, optional per-head q/k RMSNorm, projection out."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, qk_norm: bool, pre_only: bool = False):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        if qk_norm:
            self.ln_q = RMSNorm(dim // num_heads)
            self.ln_k = RMSNorm(dim // num_heads)
        if not pre_only:
            self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x):
        """[B, L, dim] -> q, k, v [B, H, L, D]."""
        B, L, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        if hasattr(self, "ln_q"):
            q, k = self.ln_q(q), self.ln_k(k)
        return q, k, v

    def forward(self, x):
        """Plain self-attention over one stream (MMDiT-X's ``attn2``)."""
        q, k, v = self.qkv_heads(x)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class DismantledBlock(nn.Module):
    """One stream of a joint block, split around the joint attention (``pre_attention`` gives this
    stream's q, k, v; ``post_attention`` applies its share of the attention output, then the MLP)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, qk_norm: bool,
                 pre_only: bool = False, self_attn: bool = False):
        super().__init__()
        self.pre_only, self.self_attn = pre_only, self_attn
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads, qkv_bias, qk_norm, pre_only=pre_only)
        if self_attn:
            self.attn2 = SelfAttention(dim, num_heads, qkv_bias, qk_norm)
        if not pre_only:
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
            self.mlp = Mlp(dim, int(dim * mlp_ratio))
        # (shift, scale[, gate]) per sub-layer: 2 (pre-only), 6 (attention + MLP), 9 (+ attn2)
        n_mods = 2 if pre_only else 9 if self_attn else 6
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, n_mods * dim))

    def pre_attention(self, x, c):
        """-> (q, k, v, state for post_attention)."""
        mods = self.adaLN_modulation(c).chunk(2 if self.pre_only else 9 if self.self_attn else 6, dim=1)
        normed = self.norm1(x)
        q, k, v = self.attn.qkv_heads(_modulate(normed, mods[0], mods[1]))
        return q, k, v, (normed, mods)

    def post_attention(self, x, attn, state):
        """x + gate * proj(attn) [+ gate2 * attn2(...)] + gate_mlp * MLP(...)."""
        normed, mods = state
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mods[:6]
        x = x + gate_msa[:, None] * self.attn.proj(attn)
        if self.self_attn:
            shift_msa2, scale_msa2, gate_msa2 = mods[6:9]
            x = x + gate_msa2[:, None] * self.attn2(_modulate(normed, shift_msa2, scale_msa2))
        return x + gate_mlp[:, None] * self.mlp(_modulate(self.norm2(x), shift_mlp, scale_mlp))

    def forward(self, x, c):
        """The block on its own, attending over its own tokens (SD3.5 ControlNets' transformer blocks)."""
        q, k, v, state = self.pre_attention(x, c)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
        return self.post_attention(x, attn, state)


class JointBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, qk_norm: bool,
                 pre_only: bool, self_attn: bool):
        super().__init__()
        self.context_block = DismantledBlock(dim, num_heads, mlp_ratio, qkv_bias, qk_norm, pre_only=pre_only)
        self.x_block = DismantledBlock(dim, num_heads, mlp_ratio, qkv_bias, qk_norm, self_attn=self_attn)

    def forward(self, context, x, c):
        """context [B, T, dim], x [B, L, dim], c [B, dim] -> (context or None after the last block, x)."""
        cq, ck, cv, c_state = self.context_block.pre_attention(context, c)
        xq, xk, xv, x_state = self.x_block.pre_attention(x, c)
        # joint attention over [text; image] tokens; no positions inside, so the order is free
        attn = F.scaled_dot_product_attention(torch.cat((cq, xq), dim=2), torch.cat((ck, xk), dim=2),
                                              torch.cat((cv, xv), dim=2))
        attn = attn.transpose(1, 2).flatten(2)  # [B, T + L, dim]
        n_ctx = context.shape[1]
        if self.context_block.pre_only:
            context = None
        else:
            context = self.context_block.post_attention(context, attn[:, :n_ctx], c_state)
        return context, self.x_block.post_attention(x, attn[:, n_ctx:], x_state)


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, dim, H, W] -> [B, H*W, dim], row-major


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t, dtype):
        # t is already in the network's 0..1000 units: no extra factor
        return self.mlp(timestep_embedding(t, self.frequency_dim, time_factor=1.0).to(dtype))


class VectorEmbedder(nn.Module):
    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, y):
        return self.mlp(y)


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(_modulate(self.norm_final(x), shift, scale))


class MMDiT(nn.Module):
    def __init__(self, config: MMDiTConfig):
        super().__init__()
        if config.hidden_size % config.num_heads:
            raise ValueError(f"MMDiT: hidden_size {config.hidden_size} is not a multiple of num_heads {config.num_heads}")
        self.config = config
        dim = config.hidden_size
        self.x_embedder = PatchEmbed(config.patch_size, config.in_channels, dim)
        self.t_embedder = TimestepEmbedder(dim)
        self.y_embedder = VectorEmbedder(config.pooled_dim, dim)
        self.context_embedder = nn.Linear(config.context_in_dim, dim)
        # a fixed table in the files; loaded like a weight, never trained
        self.pos_embed = nn.Parameter(torch.zeros(1, config.pos_embed_max_size ** 2, dim), requires_grad=False)
        self.joint_blocks = nn.ModuleList(
            JointBlock(dim, config.num_heads, config.mlp_ratio, config.qkv_bias, config.qk_norm,
                       pre_only=i == config.depth - 1, self_attn=i in config.x_block_self_attn_layers)
            for i in range(config.depth))
        self.final_layer = FinalLayer(dim, config.patch_size, config.out_channels)

    def cropped_pos_embed(self, h: int, w: int) -> torch.Tensor:
        """The centre h x w patches of the position table -> [1, h*w, dim]."""
        m = self.config.pos_embed_max_size
        if h > m or w > m:
            raise ValueError(f"MMDiT: image of {h}x{w} patches is larger than the position table ({m}x{m} "
                             f"patches, {m * self.config.patch_size * 8} pixels a side)")
        top, left = (m - h) // 2, (m - w) // 2
        table = self.pos_embed.reshape(1, m, m, -1)[:, top:top + h, left:left + w, :]
        return table.reshape(1, h * w, -1)

    def forward(self, x, timesteps, context, y=None, control=None, transformer_options=None):
        """Velocity [B, C, h, w] of latent x [B, C, h, w] at ``timesteps`` [B] (sigma x 1000), text
        ``context`` [B, T, context_in_dim] and pooled text ``y`` [B, pooled_dim].

        ``control``: ``{"output": [residual per joint block, [B, L, dim] or None]}`` (SD3 ControlNets)
        added to the image tokens after each block. ``transformer_options["skip_layers"]``:
        ``{"double": indices}`` of joint blocks to leave out (skip-layer guidance)."""
        B, C, h, w = x.shape
        p = self.config.patch_size
        pad_h, pad_w = (-h) % p, (-w) % p
        if pad_h or pad_w:  # odd latent sizes: pad to whole patches, cropped again below
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="circular")  # as ComfyUI pads
        H, W = (h + pad_h) // p, (w + pad_w) // p
        tokens = self.x_embedder(x) + self.cropped_pos_embed(H, W).to(x.dtype)  # [B, H*W, dim]
        if y is None:
            y = x.new_zeros(B, self.config.pooled_dim)
        if context.shape[-1] != self.config.context_in_dim:
            raise ValueError(f"SD3 model: text conditioning is {context.shape[-1]} wide, the model takes "
                             f"{self.config.context_in_dim} (T5-XXL; CLIP-L/G states zero-padded to it): "
                             "encode the prompt with the SD3 text encoders")
        c = self.t_embedder(timesteps, tokens.dtype) + self.y_embedder(y.to(tokens.dtype))  # [B, dim]
        context = self.context_embedder(context.to(tokens.dtype))
        skip = set((transformer_options or {}).get("skip_layers", {}).get("double", ()))
        residuals = (control or {}).get("output") or []
        for i, block in enumerate(self.joint_blocks):
            if i not in skip:
                new_context, tokens = block(context, tokens, c)
                context = context if new_context is None else new_context
            if i < len(residuals) and residuals[i] is not None:
                tokens = tokens + residuals[i].to(tokens)
        out = self.final_layer(tokens, c)  # [B, H*W, p*p*C_out]
        # patch tokens -> image, channel-last within a patch: [B, H, W, p, p, C] -> [B, C, H*p, W*p]
        out = out.reshape(B, H, W, p, p, -1).permute(0, 5, 1, 3, 2, 4).reshape(B, -1, H * p, W * p)
        return out[:, :, :h, :w]
