"""Operations on latent tensors [B, C, h, w] used by the latent nodes: resize (incl. bislerp), paste, blend."""
from __future__ import annotations

import torch
import torch.nn.functional as F

LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROP_METHODS = ("disabled", "center")


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of channel vectors (dim 1), norms interpolated linearly (Shoemake 1985)."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-8), b / nb.clamp_min(1e-8)
    dot = (ua * ub).sum(dim=1, keepdim=True).clamp(-1 + 1e-6, 1 - 1e-6)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    near = (1 - dot.abs()) < 1e-5  # nearly parallel: plain lerp avoids 0/0
    direction = torch.where(near, ua * (1 - t) + ub * t, direction)
    return direction * (na * (1 - t) + nb * t)


def _bislerp_axis(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    n = x.shape[dim]
    pos = ((torch.arange(size, dtype=torch.float64) + 0.5) * n / size - 0.5).clamp(0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    shape = [1, 1, 1, 1]
    shape[dim] = size
    t = (pos - lo).float().reshape(shape).to(x)
    return _slerp(x.index_select(dim, lo.to(x.device)), x.index_select(dim, hi.to(x.device)), t)


def bislerp(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize whose blends are slerps of the latent channel vectors (keeps their norms)."""
    x = _bislerp_axis(x.float(), width, 3)
    return _bislerp_axis(x, height, 2)


def resize(x: torch.Tensor, width: int, height: int, method: str = "nearest-exact",
           crop: str = "disabled") -> torch.Tensor:
    """Resize [B, C, h, w] latents to height x width (latent units); no clamping (latents are unbounded)."""
    from core.images import center_crop_to_aspect

    if method not in LATENT_UPSCALE_METHODS:
        raise ValueError(f"unknown upscale method {method!r}; expected one of {', '.join(LATENT_UPSCALE_METHODS)}")
    if crop == "center":
        x = center_crop_to_aspect(x, width, height)
    if x.shape[-2:] == (height, width):
        return x.clone()
    if method == "bislerp":
        return bislerp(x, width, height)
    return F.interpolate(x.float(), size=(height, width), mode=method)


def edge_feather(shape, feather: int, top: bool, bottom: bool, left: bool, right: bool) -> torch.Tensor:
    """A [1, 1, h, w] weight ramping linearly from 1/feather to 1 over ``feather`` rows/columns on the given edges."""
    h, w = shape
    mask = torch.ones(1, 1, h, w)
    for t in range(feather):
        f = (t + 1) / feather
        if top:
            mask[:, :, t] *= f
        if bottom:
            mask[:, :, h - 1 - t] *= f
        if left:
            mask[:, :, :, t] *= f
        if right:
            mask[:, :, :, w - 1 - t] *= f
    return mask


def to_batch(x: torch.Tensor, batch: int) -> torch.Tensor:
    if x.shape[0] == batch:
        return x
    reps = -(-batch // x.shape[0])
    return x.repeat(reps, *([1] * (x.ndim - 1)))[:batch]


def composite(dest: torch.Tensor, src: torch.Tensor, x: int, y: int, feather: int = 0) -> torch.Tensor:
    """Paste ``src`` into a copy of ``dest`` at latent (x, y), cross-fading ``feather`` latent pixels on
    the edges that lie inside ``dest``."""
    out = dest.clone()
    H, W = dest.shape[-2:]
    if x >= W or y >= H:
        return out
    src = to_batch(src, dest.shape[0])[:, :, :H - y, :W - x]
    h, w = src.shape[-2:]
    if feather == 0:
        out[:, :, y:y + h, x:x + w] = src
        return out
    mask = edge_feather((h, w), feather, y != 0, y + h < H, x != 0, x + w < W).to(src)
    out[:, :, y:y + h, x:x + w] = src * mask + out[:, :, y:y + h, x:x + w] * (1 - mask)
    return out
