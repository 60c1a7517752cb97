"""The FLUX.2 autoencoder (``flux2-vae.safetensors``, ``full_encoder_small_decoder.safetensors``) in BFL's key layout.

A KL-f8 autoencoder like FLUX.1's (the encoder/decoder blocks of core/models/vae.py, reused) with 32 latent
channels, plus what FLUX.2 adds around the latent:
- the 1x1 moment/latent convolutions live inside the encoder and decoder: ``encoder.quant_conv``,
  ``decoder.post_quant_conv`` (diffusers' top-level ``quant_conv``/``post_quant_conv``);
- the latent is patchified 2x2 into 128 channels at 1/16 of the image size and normalised per channel with the
  running statistics of a BatchNorm (``bn.running_mean``/``bn.running_var``, eps 1e-4, no affine), as diffusers'
  AutoencoderKLFlux2 + Flux2Pipeline._encode_vae_image do. The normalised 128-channel latent is what LATENT holds
  (ComfyUI's FLUX.2 latents are 128 x H/16 x W/16 too), so the transformer needs no patchify of its own.
``full_encoder_small_decoder`` has a narrower decoder; its widths are read from its shapes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import nn

from core.models.vae import Decoder, Encoder, VAEConfig

PATCH = 2
BN_EPS = 1e-4


def _released() -> VAEConfig:
    """flux2-vae.safetensors: widths 128/256/512/512, 2 blocks per level, 32 latent channels."""
    return VAEConfig(ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=32, embed_dim=32)


@dataclass(frozen=True)
class Flux2VAEConfig:
    encoder: VAEConfig = field(default_factory=lambda: _released())
    decoder: VAEConfig = field(default_factory=lambda: _released())

    @property
    def z_channels(self) -> int:
        return self.encoder.z_channels

    @property
    def embed_dim(self) -> int:
        """Channels of the LATENT this VAE produces (what VaeHandle reports): 32 x 2 x 2."""
        return self.z_channels * PATCH * PATCH

    @property
    def downscale(self) -> int:
        return self.encoder.downscale * PATCH


class Flux2Encoder(Encoder):
    def __init__(self, cfg: VAEConfig):
        super().__init__(cfg)
        self.quant_conv = nn.Conv2d(2 * cfg.z_channels, 2 * cfg.z_channels, 1)

    def forward(self, x):
        return self.quant_conv(super().forward(x))


class Flux2Decoder(Decoder):
    def __init__(self, cfg: VAEConfig):
        super().__init__(cfg)
        self.post_quant_conv = nn.Conv2d(cfg.z_channels, cfg.z_channels, 1)

    def forward(self, z):
        return super().forward(self.post_quant_conv(z))


class LatentStats(nn.Module):
    """The running mean/variance of BFL's ``bn`` (BatchNorm2d without affine); only its statistics are used."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def std(self) -> torch.Tensor:
        return (self.running_var.float() + BN_EPS).sqrt()


def patchify(z: torch.Tensor) -> torch.Tensor:
    """[B, C, 2h, 2w] -> [B, 4C, h, w], channel c*4 + 2*row_in_patch + col_in_patch (BFL's rearrange order)."""
    B, C, H, W = z.shape
    z = z.reshape(B, C, H // PATCH, PATCH, W // PATCH, PATCH).permute(0, 1, 3, 5, 2, 4)
    return z.reshape(B, C * PATCH * PATCH, H // PATCH, W // PATCH)


def unpatchify(z: torch.Tensor) -> torch.Tensor:
    """Inverse of patchify: [B, 4C, h, w] -> [B, C, 2h, 2w]."""
    B, C4, h, w = z.shape
    z = z.reshape(B, C4 // (PATCH * PATCH), PATCH, PATCH, h, w).permute(0, 1, 4, 2, 5, 3)
    return z.reshape(B, C4 // (PATCH * PATCH), h * PATCH, w * PATCH)


class Flux2AutoEncoder(nn.Module):
    def __init__(self, cfg: Flux2VAEConfig | None = None):
        super().__init__()
        cfg = cfg or Flux2VAEConfig()
        self.config = cfg
        self.encoder = Flux2Encoder(cfg.encoder)
        self.decoder = Flux2Decoder(cfg.decoder)
        self.bn = LatentStats(cfg.embed_dim)

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.post_quant_conv.weight.dtype

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> normalised latent [B, 128, H/16, W/16] (posterior mean, as ComfyUI)."""
        mean, _logvar = self.encoder(x.to(self.dtype)).chunk(2, dim=1)
        z = patchify(mean).float()
        z = (z - self.bn.running_mean.float()[None, :, None, None]) / self.bn.std()[None, :, None, None]
        return z.to(self.dtype)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, 128, h, w] -> [B, 3, 16h, 16w], roughly in [-1, 1] (not clamped)."""
        z = z.float() * self.bn.std()[None, :, None, None] + self.bn.running_mean.float()[None, :, None, None]
        return self.decoder(unpatchify(z).to(self.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def is_flux2_vae(sd, prefix: str = "") -> bool:
    return f"{prefix}bn.running_mean" in sd and f"{prefix}decoder.post_quant_conv.weight" in sd \
        and f"{prefix}encoder.quant_conv.weight" in sd


def _shape(t) -> tuple:
    return tuple(t.shape) if hasattr(t, "shape") else tuple(t)


def _levels(sd, prefix: str, part: str) -> list:
    rx = re.compile(rf"{re.escape(prefix)}{part}\.(?:down|up)\.(\d+)\.")
    return sorted({int(m.group(1)) for k in sd for m in [rx.match(k)] if m})


def detect_flux2_vae_config(sd, prefix: str = "") -> Flux2VAEConfig:
    """Encoder and decoder widths from the shapes (the small decoder differs from the encoder)."""
    def part(name: str, level_key: str, first_block: int) -> VAEConfig:
        levels = _levels(sd, prefix, name)
        widths = [_shape(sd[f"{prefix}{name}.{level_key}.{i}.block.0.conv1.weight"])[0] for i in levels]
        ch = widths[0]
        rx = re.compile(rf"{re.escape(prefix)}{name}\.{level_key}\.0\.block\.(\d+)\.")
        blocks = len({m.group(1) for k in sd for m in [rx.match(k)] if m})
        z = _shape(sd[f"{prefix}decoder.conv_in.weight"])[1]
        return VAEConfig(ch=ch, ch_mult=tuple(w // ch for w in widths), num_res_blocks=blocks - first_block,
                         z_channels=z, embed_dim=z)

    return Flux2VAEConfig(encoder=part("encoder", "down", 0), decoder=part("decoder", "up", 1))


def load(sd, where: str, dtype: torch.dtype, name: str):
    """A VAE socket value (VaeHandle) from a FLUX.2 VAE file's state dict."""
    from core import devices
    from core.models.building import build_module
    from core.models.handles import VaeHandle

    cfg = detect_flux2_vae_config(sd)
    vae = build_module(lambda: Flux2AutoEncoder(cfg), sd, "", dtype, devices.offload_device(), f"{where} (FLUX.2 VAE)")
    return VaeHandle(vae, name=name)
