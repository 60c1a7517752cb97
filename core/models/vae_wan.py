"""The Wan 2.1 causal 3D VAE (Wan team 2025, arXiv 2503.20314) that Qwen-Image uses, for single images.

Attribute names equal the keys of ``qwen_image_vae.safetensors`` / ``wan_2.1_vae.safetensors`` (the original
Wan layout: ``encoder.conv1``, ``encoder.downsamples.N.residual.{0,2,3,6}``, ``encoder.middle.{0,1,2}``,
``encoder.head.{0,2}``, ``conv1``/``conv2`` around the latent, ``decoder.upsamples.N``...; manifest in
tests/data/reference/checkpoints/qwen_image_vae.json). 8x spatial, 4x temporal compression, 16 channels.

An image is one frame. The causal convolutions pad time only in front (two zero frames for a 3-tap kernel), so
on one frame each 3D kernel reduces to its last temporal slice: every conv here runs as a 2D conv on that
slice of the stored 5D weight. The temporal resamplers (``time_conv``) act from the second frame on and are
kept for the key layout only; videos (more than one frame) are not supported.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class WanVAEConfig:
    dim: int = 96
    z_dim: int = 16
    dim_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temporal_downsample: tuple = (False, True, True)
    in_channels: int = 3

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)

    @property
    def embed_dim(self) -> int:  # what VaeHandle reads as the latent channel count
        return self.z_dim


class CausalConv3d(nn.Conv3d):
    """A causal 3D conv, applied to a single frame: the 2D conv of the kernel's last temporal slice."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__(cin, cout, kernel, stride=stride)
        k = self.kernel_size
        pad = padding if isinstance(padding, tuple) else (padding,) * 3
        self.spatial_padding = (pad[1], pad[2])
        self.single_frame = k[0] == 1 or pad[0] * 2 == k[0] - 1  # front-padded to keep one frame: last slice

    def forward(self, x):  # x [B, C, H, W]
        if not self.single_frame:
            raise RuntimeError("Wan VAE: temporal convolutions need more than one frame (videos are not supported)")
        return F.conv2d(x, self.weight[:, :, -1], self.bias, self.stride[1:], self.spatial_padding)


class RMSNorm(nn.Module):
    """Channel RMS norm: x / ||x||_c * sqrt(C) * gamma (gamma [C, 1, 1(, 1)] as stored)."""

    def __init__(self, dim: int, video: bool = True):
        super().__init__()
        self.scale = dim ** 0.5
        self.gamma = nn.Parameter(torch.ones(dim, 1, 1, 1) if video else torch.ones(dim, 1, 1))

    def forward(self, x):  # x [B, C, H, W]
        gamma = self.gamma.reshape(1, -1, 1, 1)
        return F.normalize(x.float(), dim=1).to(x.dtype) * self.scale * gamma


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        # indices as the file names them: 0 norm, 1 SiLU, 2 conv, 3 norm, 4 SiLU, 5 dropout, 6 conv
        self.residual = nn.Sequential(RMSNorm(cin), nn.SiLU(), CausalConv3d(cin, cout, 3, padding=1),
                                      RMSNorm(cout), nn.SiLU(), nn.Identity(), CausalConv3d(cout, cout, 3, padding=1))
        self.shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of a frame."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = RMSNorm(dim, video=False)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.to_qkv(self.norm(x)).reshape(B, 1, 3 * C, H * W).transpose(-1, -2).chunk(3, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v)  # [B, 1, HW, C]
        return x + self.proj(out.squeeze(1).transpose(1, 2).reshape(B, C, H, W))


class Resample(nn.Module):
    """2x spatial down/up-sampling per frame; the 3D modes add a temporal conv (unused on one frame)."""

    def __init__(self, dim: int, mode: str):
        super().__init__()
        self.mode = mode
        if mode.startswith("up"):
            # nearest 2x, then a conv that halves the channels
            self.resample = nn.Sequential(nn.Upsample(scale_factor=2.0, mode="nearest-exact"),
                                          nn.Conv2d(dim, dim // 2, 3, padding=1))
            if mode == "upsample3d":
                self.time_conv = nn.Conv3d(dim, dim * 2, (3, 1, 1))
        else:
            # pad right and bottom by one, then a stride-2 conv
            self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(dim, dim, 3, stride=2))
            if mode == "downsample3d":
                self.time_conv = nn.Conv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1))

    def forward(self, x):
        if self.mode.startswith("up"):
            return self.resample[1](F.interpolate(x.float(), scale_factor=2.0, mode="nearest-exact").to(x.dtype))
        return self.resample(x)


def _head(dim: int, cout: int) -> nn.Sequential:
    return nn.Sequential(RMSNorm(dim), nn.SiLU(), CausalConv3d(dim, cout, 3, padding=1))


def _middle(dim: int) -> nn.Sequential:
    return nn.Sequential(ResidualBlock(dim, dim), AttentionBlock(dim), ResidualBlock(dim, dim))


class Encoder(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        dims = [c.dim * m for m in (1, *c.dim_mult)]
        self.conv1 = CausalConv3d(c.in_channels, dims[0], 3, padding=1)
        blocks = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            for _ in range(c.num_res_blocks):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(c.dim_mult) - 1:
                blocks.append(Resample(cout, "downsample3d" if c.temporal_downsample[i] else "downsample2d"))
        self.downsamples = nn.Sequential(*blocks)
        self.middle = _middle(dims[-1])
        self.head = _head(dims[-1], c.z_dim * 2)

    def forward(self, x):
        return self.head(self.middle(self.downsamples(self.conv1(x))))


class Decoder(nn.Module):
    def __init__(self, c: WanVAEConfig):
        super().__init__()
        mult = tuple(c.dim_mult)
        dims = [c.dim * m for m in (mult[-1], *mult[::-1])]
        upsample_3d = tuple(c.temporal_downsample)[::-1]
        self.conv1 = CausalConv3d(c.z_dim, dims[0], 3, padding=1)
        self.middle = _middle(dims[0])
        blocks = []
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin //= 2  # the previous level's upsampler halved the channels
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResidualBlock(cin, cout))
                cin = cout
            if i != len(mult) - 1:
                blocks.append(Resample(cout, "upsample3d" if upsample_3d[i] else "upsample2d"))
        self.upsamples = nn.Sequential(*blocks)
        self.head = _head(dims[-1], c.in_channels)

    def forward(self, z):
        return self.head(self.upsamples(self.middle(self.conv1(z))))


class WanVAE(nn.Module):
    def __init__(self, config: WanVAEConfig = WanVAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.conv1 = CausalConv3d(config.z_dim * 2, config.z_dim * 2, 1)  # -> (mean, log variance)
        self.conv2 = CausalConv3d(config.z_dim, config.z_dim, 1)
        self.decoder = Decoder(config)

    @property
    def dtype(self) -> torch.dtype:
        return self.conv1.weight.dtype

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> raw latent mean [B, 16, H/8, W/8] (the mode of the posterior)."""
        return self.conv1(self.encoder(x.to(self.dtype)))[:, :self.config.z_dim]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, 16, h, w] -> [B, 3, 8h, 8w] clamped to [-1, 1] (as the reference decoder clamps)."""
        return self.decoder(self.conv2(z.to(self.dtype))).clamp(-1.0, 1.0)


def is_wan_vae(sd) -> bool:
    return "encoder.conv1.weight" in sd and "decoder.head.2.weight" in sd and "conv2.weight" in sd


def detect_config(sd, where: str = "VAE") -> WanVAEConfig:
    """Base width from ``encoder.conv1``, levels and depths from the block list, temporal resamplers from
    which ``time_conv`` keys exist."""
    import re

    def shape(key):
        return tuple(sd[key].shape) if hasattr(sd[key], "shape") else tuple(sd[key])

    dim = shape("encoder.conv1.weight")[0]
    z_dim = shape("conv2.weight")[0]
    n = 1 + max(int(m.group(1)) for k in sd for m in [re.match(r"encoder\.downsamples\.(\d+)\.", k)] if m)
    resamples = [i for i in range(n) if f"encoder.downsamples.{i}.resample.1.weight" in sd]
    levels = len(resamples) + 1
    num_res = resamples[0] if resamples else n
    mult, idx = [], 0
    for level in range(levels):
        mult.append(shape(f"encoder.downsamples.{idx}.residual.2.weight")[0] // dim)
        idx += num_res + (1 if level < levels - 1 else 0)
    temporal = tuple(f"encoder.downsamples.{i}.time_conv.weight" in sd for i in resamples)
    if idx != n:
        raise ValueError(f"{where}: Wan VAE encoder has {n} blocks, not the {idx} its levels imply")
    return WanVAEConfig(dim=dim, z_dim=z_dim, dim_mult=tuple(mult), num_res_blocks=num_res,
                        temporal_downsample=temporal, in_channels=shape("encoder.conv1.weight")[1])


def load_from_state_dict(sd, where: str, dtype: torch.dtype | None = None, name: str = ""):
    """VaeHandle over a Wan VAE file's tensors (VAELoader), built on meta and filled in place."""
    from core import devices
    from core.models.building import build_module
    from core.models.handles import VaeHandle

    config = detect_config(sd, where)
    vae = build_module(lambda: WanVAE(config), sd, "", dtype or devices.vae_dtype(), devices.offload_device(),
                       f"{where} (Wan VAE)")
    return VaeHandle(vae, name=name)
