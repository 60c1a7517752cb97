"""Z-Image (Tongyi-MAI 2025, "S3-DiT"): the single-stream diffusion transformer of Z-Image Turbo / Base.

Module attribute names equal the keys of the released single file (``z_image_turbo_bf16.safetensors``:
``layers.0.attention.qkv.weight``, ``x_embedder.weight``, ``final_layer.adaLN_modulation.1.weight``, ...;
manifest in tests/data/reference/checkpoints/z_image_turbo.json). diffusers' ``ZImageTransformer2DModel``
holds the same tensors under other names (``to_q/to_k/to_v`` split, ``all_x_embedder.2-1``).

The network:
- 2x2 latent patches (channel-last within a patch) and Qwen3 hidden states are embedded to ``dim``;
- ``n_refiner_layers`` blocks refine the image tokens (timestep-modulated) and, separately, the caption
  tokens (no modulation);
- ``n_layers`` blocks run over the one sequence [image; caption]; each block is pre/post RMS-normed
  attention and SwiGLU (Shazeer 2020), scaled and tanh-gated by the timestep (adaLN without shift);
- positions are 3-axis rotary embeddings (Su et al. 2021): caption token j sits at (1 + j, 0, 0), image
  patch (r, c) at (L_cap + 1, r, c), so the first axis orders caption before image;
- both token runs are padded to multiples of 32 with learned pad tokens, as the model was trained.

The denoiser call takes ComfyUI's flow convention: ``timesteps`` = sigma (AuraFlow-style multiplier 1), the
network sees t = 1 - sigma and its output is negated, so it returns the velocity noise - x0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.flux import timestep_embedding

SEQ_MULTIPLE = 32  # token runs are padded to a multiple of this (the training layout)
ADALN_DIM = 256  # width of the timestep vector that modulates every block


@dataclass(frozen=True)
class ZImageConfig:
    in_channels: int = 16
    dim: int = 3840
    n_layers: int = 30
    n_refiner_layers: int = 2
    n_heads: int = 30
    cap_feat_dim: int = 2560  # Qwen3-4B hidden size
    ffn_hidden: int = 10240  # int(dim / 3 * 8)
    t_hidden: int = 1024  # timestep MLP's inner width
    norm_eps: float = 1e-5
    rope_theta: float = 256.0
    t_scale: float = 1000.0
    axes_dims: tuple = (32, 48, 48)
    patch_size: int = 2

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def adaln_dim(self) -> int:
        return min(self.dim, ADALN_DIM)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            return x.to(self.weight.dtype) * self.weight
        return (x * self.weight).to(dtype)


def rope_angles(pos: torch.Tensor, axes_dims: tuple, theta: float) -> torch.Tensor:
    """Rotation angles [B, L, head_dim/2] of 3-axis integer positions pos [B, L, 3] (RoFormer eq. 15)."""
    out = []
    for i, d in enumerate(axes_dims):
        omega = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=pos.device) / d)
        out.append((pos[..., i].double()[..., None] * omega).float())  # float32 angles, as the reference
    return torch.cat(out, dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of x [B, L, H, D] by angles given as cos/sin [B, L, 1, D/2]."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, eps: float):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.q_norm = RMSNorm(dim // n_heads, eps)
        self.k_norm = RMSNorm(dim // n_heads, eps)

    def forward(self, x, rope, mask):
        B, L, _ = x.shape
        q, k, v = self.qkv(x).reshape(B, L, 3, self.n_heads, -1).unbind(2)  # [B, L, H, D] each
        cos, sin = rope
        q = apply_rope(self.q_norm(q), cos, sin)
        k = apply_rope(self.k_norm(k), cos, sin)
        v = v.to(q.dtype)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
        return self.out(out.transpose(1, 2).reshape(B, L, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Sandwich-normed attention + SwiGLU; with ``modulation`` both are scaled and tanh-gated by the timestep."""

    def __init__(self, c: ZImageConfig, modulation: bool):
        super().__init__()
        self.attention = Attention(c.dim, c.n_heads, 1e-5)  # the QK norms' eps is fixed, not norm_eps
        self.feed_forward = FeedForward(c.dim, c.ffn_hidden)
        self.attention_norm1 = RMSNorm(c.dim, c.norm_eps)
        self.ffn_norm1 = RMSNorm(c.dim, c.norm_eps)
        self.attention_norm2 = RMSNorm(c.dim, c.norm_eps)
        self.ffn_norm2 = RMSNorm(c.dim, c.norm_eps)
        self.modulation = modulation
        if modulation:
            self.adaLN_modulation = nn.Sequential(nn.Linear(c.adaln_dim, 4 * c.dim, bias=True))

    def forward(self, x, rope, mask, adaln=None):
        if not self.modulation:
            x = x + self.attention_norm2(self.attention(self.attention_norm1(x), rope, mask))
            return x + self.ffn_norm2(self.feed_forward(self.ffn_norm1(x)))
        scale_msa, gate_msa, scale_mlp, gate_mlp = self.adaLN_modulation(adaln)[:, None].chunk(4, dim=-1)
        x = x + gate_msa.tanh() * self.attention_norm2(
            self.attention(self.attention_norm1(x) * (1 + scale_msa), rope, mask))
        return x + gate_mlp.tanh() * self.ffn_norm2(self.feed_forward(self.ffn_norm1(x) * (1 + scale_mlp)))


class TimestepEmbedder(nn.Module):
    def __init__(self, out_dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, hidden, bias=True), nn.SiLU(), nn.Linear(hidden, out_dim, bias=True))

    def forward(self, t, scale: float):
        return self.mlp(timestep_embedding(t, 256, time_factor=scale).to(self.mlp[0].weight.dtype))


class FinalLayer(nn.Module):
    def __init__(self, c: ZImageConfig, out_features: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(c.dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(c.dim, out_features, bias=True)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(c.adaln_dim, c.dim, bias=True))

    def forward(self, x, adaln):
        return self.linear(self.norm_final(x) * (1 + self.adaLN_modulation(adaln))[:, None])


def _round_up(n: int) -> int:
    return -(-n // SEQ_MULTIPLE) * SEQ_MULTIPLE


def _key_mask(lengths: list, width: int, device) -> torch.Tensor | None:
    """SDPA mask [B, 1, 1, width] that hides each item's batch padding; None when nothing is padded."""
    if all(n == width for n in lengths):
        return None
    keep = torch.arange(width, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]
    return keep[:, None, None, :]


class ZImage(nn.Module):
    def __init__(self, config: ZImageConfig):
        super().__init__()
        if config.dim % config.n_heads or sum(config.axes_dims) != config.dim // config.n_heads:
            raise ValueError(f"Z-Image: rotary axes {config.axes_dims} do not add up to the head size "
                             f"{config.dim} / {config.n_heads}")
        self.config = c = config
        patch_features = c.patch_size * c.patch_size * c.in_channels
        self.x_embedder = nn.Linear(patch_features, c.dim, bias=True)
        self.final_layer = FinalLayer(c, patch_features)
        self.noise_refiner = nn.ModuleList(Block(c, modulation=True) for _ in range(c.n_refiner_layers))
        self.context_refiner = nn.ModuleList(Block(c, modulation=False) for _ in range(c.n_refiner_layers))
        self.t_embedder = TimestepEmbedder(c.adaln_dim, c.t_hidden)
        self.cap_embedder = nn.Sequential(RMSNorm(c.cap_feat_dim, c.norm_eps), nn.Linear(c.cap_feat_dim, c.dim, bias=True))
        self.x_pad_token = nn.Parameter(torch.zeros(1, c.dim))
        self.cap_pad_token = nn.Parameter(torch.zeros(1, c.dim))
        self.layers = nn.ModuleList(Block(c, modulation=True) for _ in range(c.n_layers))

    def _rope(self, pos: torch.Tensor):
        angles = rope_angles(pos, self.config.axes_dims, self.config.rope_theta)[:, :, None]  # [B, L, 1, D/2]
        return angles.cos(), angles.sin()

    def forward_tokens(self, img: torch.Tensor, grid: tuple, cap: torch.Tensor, cap_lens: list, t: torch.Tensor):
        """img [B, H*W, p*p*C] patch tokens on a grid (H, W); cap [B, T, cap_feat_dim] whose first
        ``cap_lens[i]`` tokens are item i's caption; t [B] in 0..1 (1 = clean). Returns [B, H*W, p*p*C]."""
        B, n_img, _ = img.shape
        H, W = grid
        dev = img.device
        adaln = self.t_embedder(t, self.config.t_scale).to(img.dtype)

        # image tokens, padded to a multiple of 32 with the learned pad token at position (0, 0, 0)
        img_len = _round_up(n_img)
        x = self.x_embedder(img)
        x = torch.cat([x, self.x_pad_token.to(x.dtype).expand(B, img_len - n_img, -1)], dim=1)
        cap_padded = [_round_up(max(int(n), 1)) for n in cap_lens]
        img_pos = torch.zeros(B, img_len, 3, device=dev, dtype=torch.long)
        rows = torch.arange(H, device=dev)[:, None].expand(H, W).reshape(-1)
        cols = torch.arange(W, device=dev)[None, :].expand(H, W).reshape(-1)
        img_pos[:, :n_img, 0] = torch.tensor(cap_padded, device=dev)[:, None] + 1
        img_pos[:, :n_img, 1], img_pos[:, :n_img, 2] = rows, cols
        img_rope = self._rope(img_pos)
        for block in self.noise_refiner:
            x = block(x, img_rope, None, adaln)

        # caption tokens: each item's own length, rounded up with the pad token, at (1 + j, 0, 0)
        cap_width = max(cap_padded)
        if cap.shape[1] < cap_width:
            cap = F.pad(cap, (0, 0, 0, cap_width - cap.shape[1]))
        c = self.cap_embedder(cap[:, :cap_width])
        real = torch.arange(cap_width, device=dev)[None, :] < torch.tensor([int(n) for n in cap_lens], device=dev)[:, None]
        c = torch.where(real[..., None], c, self.cap_pad_token.to(c.dtype))
        cap_pos = torch.zeros(B, cap_width, 3, device=dev, dtype=torch.long)
        cap_pos[..., 0] = torch.arange(1, cap_width + 1, device=dev)
        cap_rope = self._rope(cap_pos)
        cap_mask = _key_mask(cap_padded, cap_width, dev)
        for block in self.context_refiner:
            c = block(c, cap_rope, cap_mask)

        # one sequence [image; caption]; items with shorter captions are masked beyond their end
        u = torch.cat([x, c], dim=1)
        rope = tuple(torch.cat([a, b], dim=1) for a, b in zip(img_rope, cap_rope))
        mask = _key_mask([img_len + n for n in cap_padded], img_len + cap_width, dev)
        for block in self.layers:
            u = block(u, rope, mask, adaln)
        return self.final_layer(u[:, :n_img], adaln)

    def forward(self, x, timesteps, context, y=None, control=None, **_):
        """The denoiser's call: latent x [B, C, h, w], sigma [B], Qwen3 features [B, T, cap_feat_dim] ->
        velocity [B, C, h, w]. ``y`` [B, 2], when given, holds each entry's real caption length n as
        (n // 128, n % 128): batched prompts of different lengths arrive repeated to a common length
        (core/sampling/guidance.py), and the repeats must not be read as more caption."""
        B, C, h, w = x.shape
        p = self.config.patch_size
        pad_h, pad_w = (-h) % p, (-w) % p
        if pad_h or pad_w:  # odd latent sizes: pad to whole patches, cropped again below
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        H, W = (h + pad_h) // p, (w + pad_w) // p
        # [B, C, H*p, W*p] -> [B, H*W, p*p*C]: channel-last within a patch, as the reference's patchify
        img = x.reshape(B, C, H, p, W, p).permute(0, 2, 4, 3, 5, 1).reshape(B, H * W, p * p * C)
        if y is not None:  # (n // 128, n % 128) pairs: core/sampling/flow_conds.caption_length
            pairs = y.float().reshape(B, 2).round().long().tolist()
            lens = [min(hi * 128 + lo, context.shape[1]) for hi, lo in pairs]
        else:
            lens = [context.shape[1]] * B
        t = 1.0 - timesteps.float()
        out = self.forward_tokens(img, (H, W), context.to(img.dtype), lens, t)
        out = out.reshape(B, H, W, p, p, C).permute(0, 5, 1, 3, 2, 4).reshape(B, C, H * p, W * p)
        return -out[:, :, :h, :w]

