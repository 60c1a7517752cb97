"""KL-f8 autoencoder (Rombach et al. 2022 §3, appendix G) in the original LDM key layout.

Attribute names equal the checkpoint keys under ``first_stage_model.``. Images are [-1, 1] here;
handles.VaeHandle converts from/to IMAGE (0..1, channels last). Tiled versions live in vae_tiling.py.

One module serves both generations of the layout: SD1.x/SD2.x/SDXL's 4-channel VAE (with the 1x1
``quant_conv``/``post_quant_conv`` around the latent) and the 16-channel VAEs of SD3/SD3.5 and FLUX.1
(``ae.safetensors``), which have the same encoder/decoder keys with ``z_channels=16`` and no quant convs
(manifest: tests/data/reference/checkpoints/flux1_ae.json). ``detect_vae_config`` tells them apart by the
keys present.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VAEConfig:
    ch: int = 128
    ch_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: int = 2
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 4
    embed_dim: int = 4
    use_quant_conv: bool = True  # False for the 16-channel SD3/FLUX VAEs: the latent is the encoder's mean

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


def Normalize(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = Normalize(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels; q/k/v/proj_out are 1x1 convolutions in the files."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = Normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        # [B, C, H, W] -> [B, 1, H*W, C]
        q, k, v = (t(n).reshape(b, 1, c, h * w).transpose(2, 3) for t in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(2, 3).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # asymmetric padding (right/bottom only), as the original
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution level: ``block.N`` ResnetBlocks, then an optional down/upsample."""

    def __init__(self, blocks: list, resample: nn.Module | None, name: str):
        super().__init__()
        self.block = nn.ModuleList(blocks)
        self.attn = nn.ModuleList()  # no attention at any level in KL-f8 (attn_resolutions = [])
        if resample is not None:
            setattr(self, name, resample)
        self._resample = name if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        return getattr(self, self._resample)(x) if self._resample else x


class Mid(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.block_1 = ResnetBlock(ch, ch)
        self.attn_1 = AttnBlock(ch)
        self.block_2 = ResnetBlock(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, padding=1)
        mults = (1,) + tuple(cfg.ch_mult)
        self.down = nn.ModuleList()
        for level in range(len(cfg.ch_mult)):
            cin, cout = cfg.ch * mults[level], cfg.ch * mults[level + 1]
            blocks = [ResnetBlock(cin if i == 0 else cout, cout) for i in range(cfg.num_res_blocks)]
            last = level == len(cfg.ch_mult) - 1
            self.down.append(Level(blocks, None if last else Downsample(cout), "downsample"))
        ch = cfg.ch * cfg.ch_mult[-1]
        self.mid = Mid(ch)
        self.norm_out = Normalize(ch)
        self.conv_out = nn.Conv2d(ch, 2 * cfg.z_channels, 3, padding=1)  # mean and log-variance

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        ch = cfg.ch * cfg.ch_mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, ch, 3, padding=1)
        self.mid = Mid(ch)
        levels = {}
        for level in reversed(range(len(cfg.ch_mult))):
            cout = cfg.ch * cfg.ch_mult[level]
            blocks = []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(ch, cout))
                ch = cout
            levels[level] = Level(blocks, Upsample(ch) if level != 0 else None, "upsample")
        # stored lowest resolution last (up.0 = full resolution), run from the last to the first
        self.up = nn.ModuleList(levels[i] for i in range(len(cfg.ch_mult)))
        self.norm_out = Normalize(ch)
        self.conv_out = nn.Conv2d(ch, cfg.out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg: VAEConfig | None = None):
        super().__init__()
        cfg = cfg or VAEConfig()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        if cfg.use_quant_conv:
            self.quant_conv = nn.Conv2d(2 * cfg.z_channels, 2 * cfg.embed_dim, 1)
            self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.conv_in.weight.dtype

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> latent mean [B, embed_dim, H/8, W/8] (the mode of the posterior)."""
        moments = self.encoder(x.to(self.dtype))
        if self.config.use_quant_conv:
            moments = self.quant_conv(moments)
        mean, _logvar = moments.chunk(2, dim=1)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, embed_dim, h, w] -> [B, 3, 8h, 8w], roughly in [-1, 1] (not clamped)."""
        if z.shape[1] != self.config.embed_dim:
            raise ValueError(f"VAE decode: the latent has {z.shape[1]} channels but this VAE takes "
                             f"{self.config.embed_dim} (a {z.shape[1]}-channel model's latent needs its own VAE)")
        z = z.to(self.dtype)
        if self.config.use_quant_conv:
            z = self.post_quant_conv(z)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# --- reading the layout of a file -----------------------------------------------------------------

VAE_PREFIXES = ("first_stage_model.", "vae.", "")


def vae_prefix(sd) -> str | None:
    """Where an LDM-layout VAE sits in ``sd``: ``first_stage_model.`` (SD checkpoints, SD3.5), ``vae.``
    (FLUX bundles) or bare (standalone files such as ``ae.safetensors``); None when there is none.

    ``decoder.mid.block_1`` is LDM-only (diffusers names it ``decoder.mid_block.resnets.0``); the quant
    convs are not required because the 16-channel VAEs have none."""
    for prefix in VAE_PREFIXES:
        if f"{prefix}decoder.conv_in.weight" in sd and f"{prefix}decoder.mid.block_1.conv1.weight" in sd \
                and f"{prefix}encoder.conv_in.weight" in sd:
            return prefix
    return None


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def _indices(sd, head: str) -> set:
    """Numbers N of ``<head>N.`` keys, e.g. head ``first_stage_model.encoder.down.``."""
    found = set()
    for key in sd:
        if key.startswith(head):
            number = key[len(head):].split(".", 1)[0]
            if number.isdigit():
                found.add(int(number))
    return found


def detect_vae_config(sd, prefix: str = "first_stage_model.") -> VAEConfig:
    """VAEConfig from the shapes under ``prefix``: widths from the convs, levels and blocks from the key
    numbers, ``z_channels`` from ``decoder.conv_in`` (4 or 16), quant convs from their presence."""
    conv_in = _shape(sd[f"{prefix}encoder.conv_in.weight"])
    ch, in_channels = conv_in[0], conv_in[1]
    levels = len(_indices(sd, f"{prefix}encoder.down."))
    mult = [_shape(sd[f"{prefix}encoder.down.{i}.block.0.conv1.weight"])[0] // ch for i in range(levels)]
    nrb = len(_indices(sd, f"{prefix}encoder.down.0.block."))
    z = _shape(sd[f"{prefix}decoder.conv_in.weight"])[1]
    quant = f"{prefix}post_quant_conv.weight" in sd
    embed = _shape(sd[f"{prefix}post_quant_conv.weight"])[1] if quant else z  # Conv2d(embed_dim, z_channels)
    out_ch = _shape(sd[f"{prefix}decoder.conv_out.weight"])[0]
    return VAEConfig(ch=ch, ch_mult=tuple(mult), num_res_blocks=nrb, in_channels=in_channels, out_ch=out_ch,
                     z_channels=z, embed_dim=embed, use_quant_conv=quant)
