"""Qwen-Image's MMDiT (Qwen team 2025, arXiv 2508.02324), in the key layout of the released single files.

Module attribute names equal the keys of ``qwen_image_bf16.safetensors`` / ``qwen_image_fp8_e4m3fn.safetensors``
(the diffusers naming: ``transformer_blocks.0.attn.to_q.weight``, ``transformer_blocks.0.img_mod.1.weight``,
``txt_norm.weight``, ``time_text_embed.timestep_embedder.linear_1.weight``, ``norm_out.linear.weight``, ...;
manifest in tests/data/reference/checkpoints/qwen_image.json).

The network:
- 2x2 latent patches (16 channels -> 64) and Qwen2.5-VL hidden states (3584, RMS-normalised first) are
  linearly embedded to ``heads * head_dim``;
- the timestep alone (no pooled text vector, no guidance embedding) modulates every block (adaLN);
- ``num_layers`` double-stream blocks: image and text keep their own weights (modulation, QK RMS-norms,
  projections, MLP) and attend jointly over [text; image];
- positions are 3-axis rotary embeddings (frame, row, column) over *centred* image coordinates; text tokens
  continue on the diagonal after the largest image half-size (MSRoPE, paper §2.3);
- reference latents (Qwen-Image-Edit) are patchified and appended to the image tokens with frame index 1, 2, ...;
  their output tokens are dropped.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class QwenImageConfig:
    patch_size: int = 2
    in_channels: int = 64  # 16 latent channels x 2x2 patch
    out_channels: int = 16
    num_layers: int = 60
    attention_head_dim: int = 128
    num_attention_heads: int = 24
    joint_attention_dim: int = 3584  # Qwen2.5-VL-7B hidden size
    axes_dims_rope: tuple = (16, 56, 56)
    theta: int = 10_000

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def latent_channels(self) -> int:
        return self.in_channels // (self.patch_size * self.patch_size)


def timestep_embedding(t: torch.Tensor, dim: int = 256, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal [cos | sin] embedding of t * scale (t = sigma in 0..1; Vaswani et al. 2017, §3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = scale * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(256, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class TimeTextEmbed(nn.Module):
    """Named as the checkpoint's ``time_text_embed``; it embeds the timestep only."""

    def __init__(self, dim: int):
        super().__init__()
        self.timestep_embedder = TimestepEmbedder(dim)

    def forward(self, timesteps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.timestep_embedder(timestep_embedding(timesteps).to(dtype))


class GeluProj(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x):
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    """``net.0.proj`` -> GELU(tanh) -> ``net.2``; slot 1 (dropout in training) holds no weights."""

    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([GeluProj(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


def rope_angles(ids: torch.Tensor, axes_dim: tuple, theta: int) -> torch.Tensor:
    """ids [L, 3] positions (frame, row, col) -> angles [L, head_dim/2], each axis filling its slice."""
    parts = []
    for axis, dim in enumerate(axes_dim):
        omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=ids.device) / dim)
        parts.append(ids[:, axis, None].double() * omega)
    return torch.cat(parts, dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x [B, L, H, D] by angles given as cos, sin [L, 1, D/2] (RoFormer eq. 15)."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class JointAttention(nn.Module):
    """Image projections ``to_*``, text projections ``add_*_proj``; one softmax over [text; image]."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.to_q, self.to_k, self.to_v = (nn.Linear(dim, inner) for _ in range(3))
        self.add_q_proj, self.add_k_proj, self.add_v_proj = (nn.Linear(dim, inner) for _ in range(3))
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])
        self.to_add_out = nn.Linear(inner, dim)

    def _heads(self, x):
        return x.unflatten(-1, (self.heads, self.head_dim))  # [B, L, inner] -> [B, L, H, D]

    def forward(self, img, txt, rope, mask=None):
        img_cos, img_sin, txt_cos, txt_sin = rope
        q_i = apply_rope(self.norm_q(self._heads(self.to_q(img))), img_cos, img_sin)
        k_i = apply_rope(self.norm_k(self._heads(self.to_k(img))), img_cos, img_sin)
        v_i = self._heads(self.to_v(img))
        q_t = apply_rope(self.norm_added_q(self._heads(self.add_q_proj(txt))), txt_cos, txt_sin)
        k_t = apply_rope(self.norm_added_k(self._heads(self.add_k_proj(txt))), txt_cos, txt_sin)
        v_t = self._heads(self.add_v_proj(txt))
        # [B, L, H, D] -> [B, H, L, D] for SDPA, text first
        q = torch.cat([q_t, q_i], dim=1).transpose(1, 2)
        k = torch.cat([k_t, k_i], dim=1).transpose(1, 2)
        v = torch.cat([v_t, v_i], dim=1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).flatten(2)
        n_txt = txt.shape[1]
        return self.to_out[0](out[:, n_txt:]), self.to_add_out(out[:, :n_txt])


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        self.img_mod = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.txt_mod = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.img_norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.img_norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.txt_norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.txt_norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = JointAttention(dim, heads, head_dim)
        self.img_mlp = FeedForward(dim)
        self.txt_mlp = FeedForward(dim)

    def forward(self, img, txt, temb, rope, mask=None):
        # each modulation: (shift, scale, gate) for the attention, then for the MLP; [B, 1, dim] each
        i_shift1, i_scale1, i_gate1, i_shift2, i_scale2, i_gate2 = self.img_mod(temb)[:, None].chunk(6, dim=-1)
        t_shift1, t_scale1, t_gate1, t_shift2, t_scale2, t_gate2 = self.txt_mod(temb)[:, None].chunk(6, dim=-1)
        img_attn, txt_attn = self.attn(self.img_norm1(img) * (1 + i_scale1) + i_shift1,
                                       self.txt_norm1(txt) * (1 + t_scale1) + t_shift1, rope, mask)
        img = img + i_gate1 * img_attn
        txt = txt + t_gate1 * txt_attn
        img = img + i_gate2 * self.img_mlp(self.img_norm2(img) * (1 + i_scale2) + i_shift2)
        txt = txt + t_gate2 * self.txt_mlp(self.txt_norm2(txt) * (1 + t_scale2) + t_shift2)
        if img.dtype == torch.float16:  # fp16 activations overflow in late blocks otherwise
            img, txt = img.clip(-65504, 65504), txt.clip(-65504, 65504)
        return img, txt


class NormOut(nn.Module):
    """Final adaLN: ``linear`` gives (scale, shift) - scale first - from the timestep embedding."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, 2 * dim)

    def forward(self, x, temb):
        scale, shift = self.linear(F.silu(temb)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


def image_ids(frame: int, h: int, w: int, device) -> torch.Tensor:
    """(frame, row, col) of h x w patch tokens, rows and columns centred: i - ceil(h/2) .. floor(h/2) - 1."""
    rows = torch.arange(h, device=device, dtype=torch.float32) - (h - h // 2)
    cols = torch.arange(w, device=device, dtype=torch.float32) - (w - w // 2)
    ids = torch.empty(h, w, 3, device=device)
    ids[..., 0] = frame
    ids[..., 1] = rows[:, None]
    ids[..., 2] = cols[None, :]
    return ids.reshape(h * w, 3)


class QwenImageTransformer(nn.Module):
    positional_text = True  # text tokens have rotary positions: guidance never pads a prompt by repetition
    def __init__(self, config: QwenImageConfig):
        super().__init__()
        if sum(config.axes_dims_rope) != config.attention_head_dim:
            raise ValueError(f"Qwen-Image: rotary axes {config.axes_dims_rope} do not add up to the head size "
                             f"{config.attention_head_dim}")
        self.config = config
        dim = config.inner_dim
        self.time_text_embed = TimeTextEmbed(dim)
        self.txt_norm = RMSNorm(config.joint_attention_dim)
        self.img_in = nn.Linear(config.in_channels, dim)
        self.txt_in = nn.Linear(config.joint_attention_dim, dim)
        self.transformer_blocks = nn.ModuleList(
            TransformerBlock(dim, config.num_attention_heads, config.attention_head_dim)
            for _ in range(config.num_layers))
        self.norm_out = NormOut(dim)
        self.proj_out = nn.Linear(dim, config.patch_size ** 2 * config.out_channels)

    def rope(self, img_shapes: list, n_txt: int, device) -> tuple:
        """cos/sin tables [L, 1, D/2] for the image tokens of ``img_shapes`` [(h, w), ...] and n_txt text tokens."""
        ids = torch.cat([image_ids(i, h, w, device) for i, (h, w) in enumerate(img_shapes)])
        start = max(max(h // 2, w // 2) for h, w in img_shapes)
        txt_ids = torch.arange(start, start + n_txt, device=device, dtype=torch.float32)[:, None].expand(-1, 3)
        out = []
        for angles in (rope_angles(ids, self.config.axes_dims_rope, self.config.theta),
                       rope_angles(txt_ids, self.config.axes_dims_rope, self.config.theta)):
            out += [torch.cos(angles).float()[:, None], torch.sin(angles).float()[:, None]]
        return tuple(out)

    def patchify(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """[B, C, h, w] -> tokens [B, H*W, C*p*p] (channel-major within a patch), odd sizes padded."""
        B, C, h, w = x.shape
        p = self.config.patch_size
        pad_h, pad_w = (-h) % p, (-w) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        H, W = (h + pad_h) // p, (w + pad_w) // p
        return x.reshape(B, C, H, p, W, p).permute(0, 2, 4, 1, 3, 5).reshape(B, H * W, C * p * p), H, W

    def forward_tokens(self, img, txt, timesteps, img_shapes: list, txt_mask=None):
        """img [B, L, in_channels] (all images' tokens), txt [B, T, joint_attention_dim], timesteps [B] in 0..1,
        ``txt_mask`` [B, T] bool (True = real token) or None -> [B, L, p*p*out_channels]."""
        img = self.img_in(img)
        txt = self.txt_in(self.txt_norm(txt))
        temb = self.time_text_embed(timesteps, img.dtype)
        rope = self.rope(img_shapes, txt.shape[1], img.device)
        mask = None
        if txt_mask is not None and not bool(txt_mask.all()):
            keep = torch.cat([txt_mask.bool(), txt_mask.new_ones(img.shape[:2], dtype=torch.bool)], dim=1)
            mask = keep[:, None, None, :]  # [B, 1, 1, T + L]
        for block in self.transformer_blocks:
            img, txt = block(img, txt, temb, rope, mask)
        return self.proj_out(self.norm_out(img, temb))

    def forward(self, x, timesteps, context, y=None, control=None, ref_latents=None, attention_mask=None,
                ref_latents_method: str | None = None):
        """The denoiser's call: latent x [B, 16, h, w], timesteps [B] (= sigma), context [B, T, 3584],
        ``ref_latents`` a list of [B, 16, h_i, w_i] sampling-space latents (Edit) -> velocity [B, 16, h, w].
        References are laid out by frame index (ComfyUI's default ``index`` method, diffusers' Edit pipelines)."""
        if ref_latents_method not in (None, "index"):
            raise ValueError(f"Qwen-Image: reference_latents_method {ref_latents_method!r} is not supported "
                             "(supported: index)")
        B, C, h, w = x.shape
        p = self.config.patch_size
        tokens, H, W = self.patchify(x)
        shapes, parts = [(H, W)], [tokens]
        for ref in ref_latents or ():
            ref_tokens, rh, rw = self.patchify(ref.to(x))
            parts.append(ref_tokens)
            shapes.append((rh, rw))
        out = self.forward_tokens(torch.cat(parts, dim=1), context.to(x.dtype), timesteps.to(x.dtype), shapes,
                                  attention_mask)
        out = out[:, :H * W].reshape(B, H, W, -1, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, -1, H * p, W * p)
        return out[:, :, :h, :w]
