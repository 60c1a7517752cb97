"""T2I-Adapter (Mou et al. 2023, "T2I-Adapter: Learning Adapters to Dig out More Controllable Ability").

A small convolutional network turns the hint image into one feature map per U-Net level; the U-Net
adds each map to its encoder activation at the last input block of that level (before the skip is
kept), i.e. ``control["adapter"]`` of core.models.unet. Unlike a ControlNet the features depend only on
the hint, so they are computed once per hint size and reused for every step.

Checkpoint layouts of the SD1.x adapters (TencentARC; an optional ``adapter.`` prefix):

* full: the hint is pixel-unshuffled by 8 (``conv_in`` takes 64 × hint channels), then
  ``body.<n>`` residual blocks, ``levels × blocks_per_level`` of them in order. Block ``n``: optional
  average-pool ×2 (first block of levels after the first) or ``down_opt.op`` stride-2 conv, optional
  ``in_conv`` (channel change), ``block1`` 3×3 conv, ReLU, ``block2`` conv, plus the block input or
  ``skep`` conv of it. The output of each level's last block is that level's feature.
* light: no ``conv_in``; ``body.<level>`` has ``in_conv`` (1×1 to a quarter width), ``body.<n>``
  residual blocks (3×3, ReLU, 3×3, plus input), ``out_conv`` (1×1); levels after the first first
  average-pool ×2.

SDXL adapters (unshuffle by 16, ``conv_in`` of 256/768 channels) are recognised and refused by name.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from core.models.control import ControlHandle, tile_to_batch


def _conv(w: torch.Tensor) -> nn.Conv2d:
    return nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)


class _Block(nn.Module):
    """Residual block of the full adapter; the submodules present follow the checkpoint."""

    def __init__(self, sd: dict, prefix: str, down: bool):
        super().__init__()
        self.down = down
        self.down_opt = None
        if prefix + "down_opt.op.weight" in sd:
            w = sd[prefix + "down_opt.op.weight"]
            self.down_opt = nn.Module()
            self.down_opt.op = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride=2, padding=w.shape[2] // 2)
        self.in_conv = _conv(sd[prefix + "in_conv.weight"]) if prefix + "in_conv.weight" in sd else None
        self.block1 = _conv(sd[prefix + "block1.weight"])
        self.block2 = _conv(sd[prefix + "block2.weight"])
        self.skep = _conv(sd[prefix + "skep.weight"]) if prefix + "skep.weight" in sd else None

    def forward(self, x):
        if self.down:
            x = self.down_opt.op(x) if self.down_opt is not None else F.avg_pool2d(x, 2, 2, ceil_mode=True)
        if self.in_conv is not None:
            x = self.in_conv(x)
        h = self.block2(F.relu(self.block1(x)))
        return h + (self.skep(x) if self.skep is not None else x)


class _LightBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.block2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + self.block2(F.relu(self.block1(x)))


class _LightLevel(nn.Module):
    def __init__(self, sd: dict, prefix: str, down: bool):
        super().__init__()
        self.down = down
        inner = sd[prefix + "in_conv.weight"].shape[0]
        self.in_conv = _conv(sd[prefix + "in_conv.weight"])
        n = len({m.group(1) for k in sd if (m := re.match(re.escape(prefix) + r"body\.(\d+)\.", k))})
        self.body = nn.Sequential(*(_LightBlock(inner) for _ in range(n)))
        self.out_conv = _conv(sd[prefix + "out_conv.weight"])

    def forward(self, x):
        if self.down:
            x = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        return self.out_conv(self.body(self.in_conv(x)))


class T2IAdapter(nn.Module):
    """Hint image [B, C, H, W] in 0..1 -> one feature map per U-Net level (H/8, H/16, ...)."""

    def __init__(self, sd: dict, where: str = "T2I-Adapter"):
        super().__init__()
        levels = sorted({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k))})
        if "conv_in.weight" in sd:
            self.light = False
            cin = sd["conv_in.weight"].shape[1]
            if cin in (256, 768):
                raise ValueError(f"{where}: SDXL T2I-Adapters (pixel unshuffle 16) are not supported yet")
            self.unshuffle = 8
            self.conv_in = _conv(sd["conv_in.weight"])
            # levels follow channel changes: a block whose input width differs starts a level, as does
            # a block that has down_opt; with equal widths the count splits evenly over 4 levels
            n_blocks = len(levels)
            per_level = max(1, n_blocks // 4)
            self.per_level = per_level
            self.body = nn.ModuleList(
                _Block(sd, f"body.{n}.", down=(n % per_level == 0 and n > 0)) for n in range(n_blocks))
        else:
            self.light = True
            first = sd["body.0.in_conv.weight"]
            cin = first.shape[1]
            self.unshuffle = 8
            self.body = nn.ModuleList(_LightLevel(sd, f"body.{i}.", down=i > 0) for i in levels)
        self.hint_channels = cin // (self.unshuffle ** 2)
        if self.hint_channels * self.unshuffle ** 2 != cin:
            raise ValueError(f"{where}: first conv takes {cin} channels, not a multiple of {self.unshuffle ** 2}")

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, hint: torch.Tensor) -> list:
        x = F.pixel_unshuffle(hint.to(self.dtype), self.unshuffle)
        features = []
        if self.light:
            for level in self.body:
                x = level(x)
                features.append(x)
            return features
        x = self.conv_in(x)
        for n, block in enumerate(self.body):
            x = block(x)
            if (n + 1) % self.per_level == 0:
                features.append(x)
        return features


def is_t2i_adapter(sd: dict) -> bool:
    keys = [k[len("adapter."):] if k.startswith("adapter.") else k for k in sd]
    return any(re.match(r"body\.\d+\.(block1|in_conv)\.weight$", k) for k in keys) and not any(
        k.startswith(("input_blocks.", "control_model.", "down_blocks.", "controlnet_")) for k in keys)


def load_t2i_adapter_module(sd: dict, dtype: torch.dtype | None = None, where: str = "T2I-Adapter") -> T2IAdapter:
    sd = {k[len("adapter."):] if k.startswith("adapter.") else k: v for k, v in sd.items()}
    with torch.device("meta"):
        model = T2IAdapter(sd, where)
    missing = set(model.state_dict()) - set(sd)
    unexpected = set(sd) - set(model.state_dict())
    if missing or unexpected:
        raise ValueError(f"{where}: not a T2I-Adapter layout this loader knows (missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]})")
    model.load_state_dict(sd, assign=True)
    if dtype is not None:
        model.to(dtype)
    return model.eval().requires_grad_(False)


class T2IAdapterHandle(ControlHandle):
    """The CONTROL_NET value for an adapter (core.models.control has the contract it follows)."""

    def __init__(self, model: T2IAdapter, name: str = "t2i_adapter"):
        super().__init__(model, name)
        self._features = None

    def _unbind(self) -> None:
        self._features = None

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, cond_context: dict, batched: int) -> dict:
        """Features of the hint at 8× the latent size, computed once per size and batch: they depend on
        neither x nor sigma."""
        key = (x.shape[2], x.shape[3], x.shape[0], batched, x.device)
        if self._features is None or self._features[0] != key:
            hint = self.hint_pixels(x)
            if self.model.hint_channels == 1:  # sketch/canny adapters read one channel (BT.601 luma)
                hint = (hint * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            with torch.no_grad():
                feats = self.model_to(x.device)(hint.to(x.device))
            self._features = (key, [tile_to_batch(f, x.shape[0], batched) for f in feats])
        return {"adapter": self._features[1]}
