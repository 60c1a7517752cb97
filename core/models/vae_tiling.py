"""Run a VAE over overlapping tiles and blend them, for images too large to process at once.

Each tile is processed alone; in the overlap two tiles are cross-faded with linear weights (only on
sides that have a neighbour), and the weighted sum is divided by the summed weights, so seams fade
instead of showing an edge.
"""
from __future__ import annotations

import torch

from core.execution.progress import ProgressBar, check_interrupt


def tile_starts(size: int, tile: int, overlap: int) -> list:
    """Start offsets covering ``size`` with tiles of ``tile`` overlapping by at least ``overlap``."""
    if tile >= size:
        return [0]
    stride = max(tile - overlap, 1)
    starts = list(range(0, size - tile + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(length: int, fade: int, left: bool, right: bool) -> torch.Tensor:
    w = torch.ones(length)
    fade = min(fade, length // 2)
    if fade > 0:
        ramp = torch.arange(1, fade + 1, dtype=torch.float32) / (fade + 1)
        if left:
            w[:fade] = ramp
        if right:
            w[length - fade:] = ramp.flip(0)
    return w


def tiled_map(x: torch.Tensor, fn, tile: int, overlap: int, scale: float, out_channels: int,
              out_device=torch.device("cpu")) -> torch.Tensor:
    """``fn`` over tiles of ``x`` [B,C,H,W]; ``fn`` maps [B,C,h,w] -> [B,out_channels,h*scale,w*scale]."""
    b, _c, h, w = x.shape
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    out_h, out_w = round(h * scale), round(w * scale)
    out = torch.zeros(b, out_channels, out_h, out_w, dtype=torch.float32, device=out_device)
    weight = torch.zeros(1, 1, out_h, out_w, dtype=torch.float32, device=out_device)
    fade = round(overlap * scale)
    bar = ProgressBar(len(ys) * len(xs))
    for y in ys:
        for x0 in xs:
            check_interrupt()
            th, tw = min(tile, h - y), min(tile, w - x0)
            result = fn(x[:, :, y:y + th, x0:x0 + tw]).float().to(out_device)
            oy, ox = round(y * scale), round(x0 * scale)
            rh, rw = result.shape[-2:]
            wy = _ramp(rh, fade, left=y > 0, right=y + th < h)
            wx = _ramp(rw, fade, left=x0 > 0, right=x0 + tw < w)
            mask = (wy[:, None] * wx[None, :]).to(out_device)  # [rh, rw]
            out[:, :, oy:oy + rh, ox:ox + rw] += result * mask
            weight[:, :, oy:oy + rh, ox:ox + rw] += mask
            bar.update(1)
    return out / weight
