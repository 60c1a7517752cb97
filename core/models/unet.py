"""The latent-diffusion U-Net of SD1.x, SD2.x and SDXL in the original LDM key layout.

Ho et al. 2020 (DDPM U-Net), Rombach et al. 2022 (latent diffusion, cross-attention),
Podell et al. 2023 (SDXL: three levels, deeper transformers, size/crop conditioning via ``label_emb``).
Attribute names equal the checkpoint keys under ``model.diffusion_model.``.

Forward contract (the sampler codes against it)::

    unet(x [B,C,H,W], timesteps [B], context [B,T,D], y [B,adm] | None, control | None) -> [B,C_out,H,W]

``patches`` = ``{"middle_patch": [p(x, extra_options) -> x]}``: run inside every transformer block after
its self-attention (core/models/attention.py; GLIGEN uses it).

``control`` = ``{"input": [residual per input block, in input_blocks order, or None],
"middle": [tensor]}``: each residual is added to the skip activation of its input block when the
decoder consumes it, and ``middle[0]`` to the middle block output (the ControlNet convention,
Zhang et al. 2023). ``"adapter": [feature per level or None]`` is added to the activation right after
the last input block of that level, before the skip is kept (T2I-Adapter features, Mou et al. 2023).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.models.attention import SpatialTransformer
from core.models.conv import Conv2d


@dataclass
class UNetConfig:
    """Hyperparameters; depths are per block so unusual fine-tunes (distilled SDXL ...) fit too."""

    in_channels: int = 4
    out_channels: int = 4
    model_channels: int = 320
    channel_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: tuple = (2, 2, 2, 2)  # per level
    transformer_depth: tuple = (1, 1, 1, 1, 1, 1, 0, 0)  # per input ResBlock, in order
    transformer_depth_middle: int = 1
    transformer_depth_output: tuple = (0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1)  # per output block
    context_dim: int = 768
    num_heads: int = 8  # used when num_head_channels == -1 (SD1.x)
    num_head_channels: int = -1  # 64 for SD2.x / SDXL
    use_linear_in_transformer: bool = False
    adm_in_channels: int | None = None  # SDXL: 2816 (pooled text + 6 size embeddings)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_levels(cls, *, channel_mult, num_res_blocks, depth_per_level, depth_middle, **kw) -> "UNetConfig":
        """Build the per-block depths from the per-level description of the LDM yaml files."""
        levels = len(channel_mult)
        nrb = (num_res_blocks,) * levels if isinstance(num_res_blocks, int) else tuple(num_res_blocks)
        depth_in, depth_out = [], []
        for level in range(levels):
            depth_in += [depth_per_level[level]] * nrb[level]
            depth_out += [depth_per_level[level]] * (nrb[level] + 1)
        return cls(channel_mult=tuple(channel_mult), num_res_blocks=nrb, transformer_depth=tuple(depth_in),
                   transformer_depth_middle=depth_middle, transformer_depth_output=tuple(reversed(depth_out)),
                   **kw)

    def heads_for(self, channels: int) -> tuple[int, int]:
        if self.num_head_channels == -1:
            return self.num_heads, channels // self.num_heads
        if channels < self.num_head_channels:  # tiny test models: one head as wide as the block
            return 1, channels
        return channels // self.num_head_channels, self.num_head_channels


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [B] -> [B, dim], cos half first, as in the LDM code (Vaswani et al. 2017 §3.5)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added in between (Ho et al. 2020)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(), Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, out_channels), nn.SiLU(), nn.Dropout(0.0),
                                        Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if channels == out_channels else Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None].to(h.dtype)  # [B, C] -> [B, C, 1, 1]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.op = Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size=None) -> torch.Tensor:
        # ``size`` = the next skip's spatial size, so odd latent sizes (e.g. 13 -> 25 not 26) line up
        x = F.interpolate(x, size=size, mode="nearest") if size is not None else F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


class TimestepBlock(nn.Sequential):
    """A block of the U-Net: feeds each layer what it takes (time embedding, context, target size)."""

    def forward(self, x, emb, context, size=None, patches=None):  # type: ignore[override]
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context, patches)
            elif isinstance(layer, Upsample):
                x = layer(x, size)
            else:
                x = layer(x)
        return x


def _transformer(cfg: UNetConfig, ch: int, depth: int) -> SpatialTransformer:
    heads, dim_head = cfg.heads_for(ch)
    return SpatialTransformer(ch, heads, dim_head, depth, cfg.context_dim, cfg.use_linear_in_transformer)


class UNetEncoder(nn.Module):
    """Time (and SDXL label) embedding, input blocks and middle block, under their checkpoint names: the
    U-Net's encoder, and what a ControlNet is a trainable copy of (Zhang et al. 2023)."""

    WHAT = "network"  # names the network in errors

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.config = cfg
        mc = cfg.model_channels
        emb_dim = mc * 4
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if cfg.adm_in_channels:
            # keys label_emb.0.0 / label_emb.0.2: the "sequential" class embedding of sgm
            self.label_emb = nn.Sequential(nn.Sequential(nn.Linear(cfg.adm_in_channels, emb_dim), nn.SiLU(),
                                                         nn.Linear(emb_dim, emb_dim)))

        self.input_blocks = nn.ModuleList([TimestepBlock(Conv2d(cfg.in_channels, mc, 3, padding=1))])
        self.input_channels = [mc]  # channels out of each input block (the U-Net's skips)
        self.level_ends = []  # index of each level's last input block (before its downsample)
        ch = mc
        depth_in = iter(cfg.transformer_depth)
        levels = len(cfg.channel_mult)
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks[level]):
                layers = [ResBlock(ch, emb_dim, mult * mc)]
                ch = mult * mc
                depth = next(depth_in)
                if depth > 0:
                    layers.append(_transformer(cfg, ch, depth))
                self.input_blocks.append(TimestepBlock(*layers))
                self.input_channels.append(ch)
            self.level_ends.append(len(self.input_blocks) - 1)
            if level != levels - 1:
                self.input_blocks.append(TimestepBlock(Downsample(ch)))
                self.input_channels.append(ch)

        middle = [ResBlock(ch, emb_dim, ch)]
        if cfg.transformer_depth_middle > 0:
            middle.append(_transformer(cfg, ch, cfg.transformer_depth_middle))
        middle.append(ResBlock(ch, emb_dim, ch))
        self.middle_block = TimestepBlock(*middle)

    def embed(self, timesteps: torch.Tensor, y: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor:
        """``[B, 4·model_channels]``: the timestep embedding, plus SDXL's embedding of the vector ``y``."""
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(dtype))
        if self.config.adm_in_channels:
            if y is None:
                raise ValueError(f"this {self.WHAT} needs the vector input y [B, {self.config.adm_in_channels}] "
                                 "(SDXL size conditioning)")
            emb = emb + self.label_emb(y.to(dtype))
        return emb


class UNetModel(UNetEncoder):
    WHAT = "U-Net"

    def __init__(self, cfg: UNetConfig):
        super().__init__(cfg)
        mc = cfg.model_channels
        emb_dim = mc * 4
        skip_channels = list(self.input_channels)
        ch = skip_channels[-1]

        self.output_blocks = nn.ModuleList()
        depth_out = iter(cfg.transformer_depth_output)
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb_dim, mc * mult)]
                ch = mc * mult
                depth = next(depth_out)
                if depth > 0:
                    layers.append(_transformer(cfg, ch, depth))
                if level and i == cfg.num_res_blocks[level]:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepBlock(*layers))

        self.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(), Conv2d(mc, cfg.out_channels, 3, padding=1))
        self._name_transformer_blocks()

    def _name_transformer_blocks(self) -> None:
        """Give each transformer block its checkpoint path and position (in execution order: input blocks,
        middle, output blocks), what block patches receive as ``extra_options``."""
        kinds = {"input_blocks": "input", "middle_block": "middle", "output_blocks": "output"}
        spatial = 0
        for name, module in self.named_modules():
            if isinstance(module, SpatialTransformer):
                part, _, rest = name.partition(".")
                block = (kinds[part], 0 if part == "middle_block" else int(rest.split(".")[0]))
                for j, layer in enumerate(module.transformer_blocks):
                    layer.where = {"path": f"{name}.transformer_blocks.{j}", "transformer_index": spatial,
                                   "block_index": j, "block": block}
                spatial += 1

    @property
    def dtype(self) -> torch.dtype:
        # the bias: with fp8 storage the weights are 8-bit and the biases keep the compute dtype (fp8.py)
        return self.out[2].bias.dtype

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                y: torch.Tensor | None = None, control: dict | None = None, patches: dict | None = None) -> torch.Tensor:
        in_dtype, dtype = x.dtype, self.dtype
        timesteps = torch.as_tensor(timesteps, device=x.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x.shape[0])
        emb = self.embed(timesteps, y, dtype)  # [B, 4*mc]
        h = x.to(dtype)
        context = context.to(dtype)
        skips = []
        adapter = control.get("adapter") if control else None
        at_level = {end: i for i, end in enumerate(self.level_ends)} if adapter else {}
        for index, block in enumerate(self.input_blocks):
            h = block(h, emb, context, patches=patches)
            level = at_level.get(index)
            if level is not None and level < len(adapter) and adapter[level] is not None:
                feature = adapter[level].to(h.dtype)
                if feature.shape[-2:] != h.shape[-2:]:  # sizes not a multiple of the adapter's stride
                    feature = F.interpolate(feature, size=h.shape[-2:], mode="nearest")
                h = h + feature
            skips.append(h)
        h = self.middle_block(h, emb, context, patches=patches)
        control_in = control.get("input") if control else None
        if control and control.get("middle") and control["middle"][0] is not None:
            h = h + control["middle"][0].to(h.dtype)
        for block in self.output_blocks:
            index = len(skips) - 1
            skip = skips.pop()
            if control_in is not None and index < len(control_in) and control_in[index] is not None:
                skip = skip + control_in[index].to(skip.dtype)
            h = torch.cat([h, skip], dim=1)
            h = block(h, emb, context, size=skips[-1].shape[-2:] if skips else None, patches=patches)
        return self.out(h).to(in_dtype)
