"""FLUX.1's rectified-flow transformer (Black Forest Labs 2024), in BFL's own key layout.

Module attribute names equal the keys of the released single files (``flux1-dev.safetensors``,
``flux1-schnell.safetensors``: ``double_blocks.0.img_attn.qkv.weight``, ``single_blocks.0.linear1.weight``,
``final_layer.adaLN_modulation.1.weight``, ...; manifest in tests/data/reference/checkpoints/flux1_dev.json).

The network (Esser et al. 2024 "MM-DiT", with BFL's parallel single-stream blocks):
- 2x2 latent patches and T5 tokens are linearly embedded to ``hidden_size``;
- a vector ``vec`` = MLP(timestep) + MLP(guidance) + MLP(pooled CLIP) modulates every block (adaLN);
- ``depth`` double-stream blocks: image and text keep their own weights but attend jointly;
- ``depth_single_blocks`` single-stream blocks over [text; image], attention and MLP in parallel
  from one fused input projection (Dehghani et al. 2023, "ViT-22B" parallel layers);
- positions are 3-axis rotary embeddings (axis 0 unused by FLUX.1, 1 = row, 2 = column).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class FluxConfig:
    in_channels: int = 64  # 16 latent channels x 2x2 patch
    out_channels: int = 64
    vec_in_dim: int = 768  # pooled CLIP-L
    context_in_dim: int = 4096  # T5-XXL
    hidden_size: int = 3072
    mlp_ratio: float = 4.0
    num_heads: int = 24
    depth: int = 19
    depth_single_blocks: int = 38
    axes_dim: tuple = (16, 56, 56)
    theta: int = 10_000
    qkv_bias: bool = True
    guidance_embed: bool = True  # [dev]: True; [schnell]: False
    patch_size: int = 2

    @property
    def latent_channels(self) -> int:
        """Channels of the latent sampled (Fill/Canny/Depth take more inputs: core/models/flux_fill.py)."""
        return self.out_channels // (self.patch_size * self.patch_size)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000, time_factor: float = 1000.0):
    """Sinusoidal embedding [cos | sin] of t * time_factor (t in 0..1; Vaswani et al. 2017, §3.5)."""
    t = time_factor * t.float()
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(pos: torch.Tensor, dim: int, theta: int) -> torch.Tensor:
    """Rotation matrices [B, L, dim/2, 2, 2] of positions ``pos`` [B, L] (Su et al. 2021, RoFormer eq. 15)."""
    scale = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim
    omega = 1.0 / (theta ** scale)
    angles = pos.double()[..., None] * omega  # [B, L, dim/2]
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([cos, -sin, sin, cos], dim=-1).reshape(*angles.shape, 2, 2).float()


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x [B, H, L, D] by freqs [B, 1, L, D/2, 2, 2]."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 1, 2)  # [B, H, L, D/2, 1, 2]
    out = freqs[..., 0] * pairs[..., 0] + freqs[..., 1] * pairs[..., 1]  # [B, H, L, D/2, 2]
    return out.reshape(*x.shape).type_as(x)


def attention(q, k, v, pe, mask=None) -> torch.Tensor:
    """Rotary joint attention: [B, H, L, D] x3 -> [B, L, H*D]; ``mask`` [L, L] bool (True: may attend) or None."""
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return x.transpose(1, 2).flatten(2)


def joint_stream(block, img, txt, img_mod, txt_mod, pe, mask=None):
    """A double-stream block's step (FLUX.1 and FLUX.2): each stream modulated on its own, one attention over
    [text; image], each stream's gated residual attention and MLP. ``*_mod``: ((shift, scale, gate) x 2)."""
    (i_shift1, i_scale1, i_gate1), (i_shift2, i_scale2, i_gate2) = img_mod
    (t_shift1, t_scale1, t_gate1), (t_shift2, t_scale2, t_gate2) = txt_mod
    img_q, img_k, img_v = block.img_attn.qkv_heads((1 + i_scale1) * block.img_norm1(img) + i_shift1)
    txt_q, txt_k, txt_v = block.txt_attn.qkv_heads((1 + t_scale1) * block.txt_norm1(txt) + t_shift1)
    attn = attention(torch.cat((txt_q, img_q), dim=2), torch.cat((txt_k, img_k), dim=2),
                     torch.cat((txt_v, img_v), dim=2), pe, mask)
    n_txt = txt.shape[1]
    txt_out, img_out = attn[:, :n_txt], attn[:, n_txt:]
    img = img + i_gate1 * block.img_attn.proj(img_out)
    img = img + i_gate2 * block.img_mlp((1 + i_scale2) * block.img_norm2(img) + i_shift2)
    txt = txt + t_gate1 * block.txt_attn.proj(txt_out)
    txt = txt + t_gate2 * block.txt_mlp((1 + t_scale2) * block.txt_norm2(txt) + t_shift2)
    return img, txt


class EmbedND(nn.Module):
    def __init__(self, theta: int, axes_dim: tuple):
        super().__init__()
        self.theta = theta
        self.axes_dim = tuple(axes_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, L, n_axes] -> [B, 1, L, head_dim/2, 2, 2], each axis rotating its slice of the head."""
        emb = torch.cat([rope(ids[..., i], d, self.theta) for i, d in enumerate(self.axes_dim)], dim=-3)
        return emb.unsqueeze(1)


class MLPEmbedder(nn.Module):
    """Linear → SiLU → Linear (FLUX.1 with biases, FLUX.2 without)."""

    def __init__(self, in_dim: int, hidden_dim: int, bias: bool = True):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden_dim, bias=bias)
        self.out_layer = nn.Linear(hidden_dim, hidden_dim, bias=bias)

    def forward(self, x):
        return self.out_layer(F.silu(self.in_layer(x)))


class RMSNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        return (x * self.scale.float()).to(dtype)


class QKNorm(nn.Module):
    """RMS-normalised queries and keys per head (Dehghani et al. 2023), for stable attention logits."""

    def __init__(self, dim: int):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k, v):
        return self.query_norm(q).to(v), self.key_norm(k).to(v)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def qkv_heads(self, x):
        """[B, L, dim] -> q, k, v [B, H, L, D] with q, k RMS-normalised."""
        B, L, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self.norm(q, k, v)
        return q, k, v


class Modulation(nn.Module):
    """adaLN: (shift, scale, gate) per sub-layer from vec; 2 sets for double blocks, 1 for single."""

    def __init__(self, dim: int, double: bool):
        super().__init__()
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim, bias=True)

    def forward(self, vec):
        out = self.lin(F.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)
        return [out[i:i + 3] for i in range(0, self.multiplier, 3)]  # [(shift, scale, gate), ...]


def _mlp(hidden: int, mlp_hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(hidden, mlp_hidden, bias=True), nn.GELU(approximate="tanh"),
                         nn.Linear(mlp_hidden, hidden, bias=True))


class DoubleStreamBlock(nn.Module):
    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float, qkv_bias: bool):
        super().__init__()
        mlp_hidden = int(hidden * mlp_ratio)
        for stream in ("img", "txt"):
            setattr(self, f"{stream}_mod", Modulation(hidden, double=True))
            setattr(self, f"{stream}_norm1", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_attn", SelfAttention(hidden, num_heads, qkv_bias))
            setattr(self, f"{stream}_norm2", nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6))
            setattr(self, f"{stream}_mlp", _mlp(hidden, mlp_hidden))

    def forward(self, img, txt, vec, pe):
        return joint_stream(self, img, txt, self.img_mod(vec), self.txt_mod(vec), pe)


class SingleStreamBlock(nn.Module):
    def __init__(self, hidden: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.hidden, self.num_heads = hidden, num_heads
        self.mlp_hidden = int(hidden * mlp_ratio)
        self.linear1 = nn.Linear(hidden, hidden * 3 + self.mlp_hidden)  # qkv ++ MLP in, fused
        self.linear2 = nn.Linear(hidden + self.mlp_hidden, hidden)  # attention out ++ MLP out, fused
        self.norm = QKNorm(hidden // num_heads)
        self.pre_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp_act = nn.GELU(approximate="tanh")
        self.modulation = Modulation(hidden, double=False)

    def forward(self, x, vec, pe):
        ((shift, scale, gate),) = self.modulation(vec)
        qkv, mlp = torch.split(self.linear1((1 + scale) * self.pre_norm(x) + shift),
                               [3 * self.hidden, self.mlp_hidden], dim=-1)
        B, L, _ = x.shape
        q, k, v = qkv.reshape(B, L, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # [B, H, L, D] each
        q, k = self.norm(q, k, v)
        out = self.linear2(torch.cat((attention(q, k, v, pe), self.mlp_act(mlp)), dim=2))
        return x + gate * out


class LastLayer(nn.Module):
    def __init__(self, hidden: int, patch_size: int, out_channels: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, patch_size * patch_size * out_channels, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden, bias=True))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)
        return self.linear((1 + scale[:, None, :]) * self.norm_final(x) + shift[:, None, :])


class Flux(nn.Module):
    def __init__(self, config: FluxConfig):
        super().__init__()
        if config.hidden_size % config.num_heads:
            raise ValueError(f"FLUX: hidden_size {config.hidden_size} is not a multiple of num_heads {config.num_heads}")
        if sum(config.axes_dim) != config.hidden_size // config.num_heads:
            raise ValueError(f"FLUX: rotary axes {config.axes_dim} do not add up to the head size "
                             f"{config.hidden_size // config.num_heads}")
        self.config = config
        hidden = config.hidden_size
        self.pe_embedder = EmbedND(config.theta, config.axes_dim)
        self.img_in = nn.Linear(config.in_channels, hidden, bias=True)
        self.time_in = MLPEmbedder(256, hidden)
        self.vector_in = MLPEmbedder(config.vec_in_dim, hidden)
        self.guidance_in = MLPEmbedder(256, hidden) if config.guidance_embed else nn.Identity()
        self.txt_in = nn.Linear(config.context_in_dim, hidden)
        self.double_blocks = nn.ModuleList(
            DoubleStreamBlock(hidden, config.num_heads, config.mlp_ratio, config.qkv_bias) for _ in range(config.depth))
        self.single_blocks = nn.ModuleList(
            SingleStreamBlock(hidden, config.num_heads, config.mlp_ratio) for _ in range(config.depth_single_blocks))
        self.final_layer = LastLayer(hidden, 1, config.out_channels)

    def forward_tokens(self, img, img_ids, txt, txt_ids, timesteps, y, guidance=None):
        """BFL's forward: img [B, L, in_channels] patch tokens, txt [B, T, context_in_dim], ids [B, *, 3],
        timesteps and guidance [B] in 0..1 units of sigma / guidance scale, y [B, vec_in_dim]."""
        img = self.img_in(img)
        vec = self.time_in(timestep_embedding(timesteps, 256).to(img.dtype))
        if self.config.guidance_embed:
            if guidance is None:
                raise ValueError("FLUX [dev]-type model needs a guidance value (FluxGuidance)")
            vec = vec + self.guidance_in(timestep_embedding(guidance, 256).to(img.dtype))
        vec = vec + self.vector_in(y.to(img.dtype))
        txt = self.txt_in(txt)
        pe = self.pe_embedder(torch.cat((txt_ids, img_ids), dim=1))
        for block in self.double_blocks:
            img, txt = block(img, txt, vec, pe)
        x = torch.cat((txt, img), dim=1)
        for block in self.single_blocks:
            x = block(x, vec, pe)
        return self.final_layer(x[:, txt.shape[1]:], vec)

    def patchify(self, x: torch.Tensor, index: int = 0, h_offset: int = 0, w_offset: int = 0):
        """Latent [B, C, h, w] -> tokens [B, H*W, C*p*p] and position ids [B, H*W, 3] = (index, row, col).

        Odd sizes are padded to whole patches. Offsets are in latent pixels, rounded to patches like
        ComfyUI's ``process_img``; ``index`` is the first rotary axis, which FLUX.1 Kontext uses to tell
        reference images (1) from the image being generated (0).
        """
        B, C, h, w = x.shape
        p = self.config.patch_size
        pad_h, pad_w = (-h) % p, (-w) % p
        if pad_h or pad_w:  # odd latent sizes: pad to whole patches, cropped again after the network
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        H, W = (h + pad_h) // p, (w + pad_w) // p
        # [B, C, H*p, W*p] -> [B, H*W, C*p*p], channel-major within a patch as BFL's rearrange
        img = x.reshape(B, C, H, p, W, p).permute(0, 2, 4, 1, 3, 5).reshape(B, H * W, C * p * p)
        ids = torch.zeros(H, W, 3, device=x.device, dtype=torch.float32)
        ids[..., 0] = index
        ids[..., 1] = torch.arange(H, device=x.device, dtype=torch.float32)[:, None] + (h_offset + p // 2) // p
        ids[..., 2] = torch.arange(W, device=x.device, dtype=torch.float32)[None, :] + (w_offset + p // 2) // p
        return img, ids.reshape(1, H * W, 3).expand(B, -1, -1)

    def forward(self, x, timesteps, context, y=None, control=None, guidance=None, ref_latents=None,
                ref_latents_method: str = "offset"):
        """The denoiser's call: latent x [B, C, h, w] -> velocity [B, out_channels/4, h, w].

        ``y`` is [B, vec_in_dim + 1]: the pooled text vector with the guidance scale appended as its
        last column (core/sampling/flow_conds.py), unless ``guidance`` is given separately.
        ``ref_latents`` (FLUX.1 Kontext): latents [B, C, h', w'] whose tokens are appended after the
        image's with their own position ids (:func:`core.models.flux_kontext.reference_positions`);
        the network's output for them is dropped.
        """
        B, _, h, w = x.shape
        p = self.config.patch_size
        if y is None:
            y = x.new_zeros(B, self.config.vec_in_dim + 1)
        if guidance is None and y.shape[1] == self.config.vec_in_dim + 1:
            y, guidance = y[:, :-1], y[:, -1]
        img, img_ids = self.patchify(x)
        n_img = img.shape[1]
        if ref_latents:
            from core.models.flux_kontext import reference_positions

            refs = [(r if r.shape[0] == B else r.repeat(-(-B // r.shape[0]), 1, 1, 1)[:B]).to(x) for r in ref_latents]
            parts, id_parts = [img], [img_ids]
            for ref, (index, h_off, w_off) in zip(refs, reference_positions([r.shape[-2:] for r in refs],
                                                                              ref_latents_method, (h, w), p)):
                tokens, ids = self.patchify(ref, index, h_off, w_off)
                parts.append(tokens)
                id_parts.append(ids)
            img, img_ids = torch.cat(parts, dim=1), torch.cat(id_parts, dim=1)
        txt_ids = torch.zeros(B, context.shape[1], 3, device=x.device, dtype=torch.float32)
        out = self.forward_tokens(img, img_ids, context, txt_ids, timesteps.to(x.dtype), y,
                                  None if guidance is None else guidance.to(x.dtype))
        out = out[:, :n_img]  # the reference images' tokens are context, not output
        H, W = -(-h // p), -(-w // p)
        out = out.reshape(B, H, W, -1, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, -1, H * p, W * p)
        return out[:, :, :h, :w]
