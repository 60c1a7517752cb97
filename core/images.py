"""Image operations on IMAGE tensors ``[B, H, W, C]`` float 0..1 (and NCHW helpers for hints).

Resizing follows the conventions saved workflows rely on: ``crop="center"`` first cuts the source to the
target aspect ratio, a width or height of 0 keeps the aspect ratio, ``lanczos`` goes through PIL per
image (torch has no Lanczos kernel). Canny is written in torch so it runs wherever the tensors are.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_METHODS = ("disabled", "center")


def center_crop_to_aspect(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Crop NCHW ``x`` around its centre to the aspect ratio width:height (no resampling)."""
    old_h, old_w = x.shape[-2], x.shape[-1]
    old_aspect, new_aspect = old_w / old_h, width / height
    x0 = y0 = 0
    if old_aspect > new_aspect:
        x0 = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y0 = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return x[..., y0:old_h - y0, x0:old_w - x0]


def _lanczos_nchw(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    out = []
    for img in x.movedim(1, -1).float().cpu():
        arr = (img.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        mode = None
        if arr.shape[-1] == 1:
            arr, mode = arr[..., 0], "L"
        pil = Image.fromarray(arr, mode=mode).resize((width, height), resample=Image.Resampling.LANCZOS)
        t = torch.from_numpy(np.array(pil).astype(np.float32) / 255.0)
        out.append(t.unsqueeze(-1) if t.ndim == 2 else t)
    return torch.stack(out).movedim(-1, 1).to(x.device, x.dtype)


def resize_nchw(x: torch.Tensor, width: int, height: int, method: str = "bilinear", crop: str = "disabled") -> torch.Tensor:
    """Resize an NCHW tensor to ``height x width`` with one of :data:`UPSCALE_METHODS`."""
    if method not in UPSCALE_METHODS:
        raise ValueError(f"unknown upscale method {method!r}; expected one of {', '.join(UPSCALE_METHODS)}")
    if crop == "center":
        x = center_crop_to_aspect(x, width, height)
    elif crop != "disabled":
        raise ValueError(f"unknown crop {crop!r}; expected one of {', '.join(CROP_METHODS)}")
    if x.shape[-2:] == (height, width):
        return x
    if method == "lanczos":
        return _lanczos_nchw(x, width, height)
    out = F.interpolate(x.float(), size=(height, width), mode=method)
    if method == "bicubic":  # cubic overshoots at edges; IMAGE values stay in 0..1
        out = out.clamp(0, 1)
    return out.to(x.dtype)


def target_size(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """Fill in a 0 width or height from the source aspect ratio (both 0: keep the size)."""
    if width == 0 and height == 0:
        return src_w, src_h
    if width == 0:
        width = max(1, round(src_w * height / src_h))
    elif height == 0:
        height = max(1, round(src_h * width / src_w))
    return width, height


def scale(image: torch.Tensor, width: int, height: int, method: str = "nearest-exact", crop: str = "disabled") -> torch.Tensor:
    """Resize an IMAGE ``[B,H,W,C]``; 0 for one side keeps the aspect ratio."""
    width, height = target_size(image.shape[2], image.shape[1], width, height)
    return resize_nchw(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


def scale_by(image: torch.Tensor, factor: float, method: str = "nearest-exact") -> torch.Tensor:
    width = max(1, round(image.shape[2] * factor))
    height = max(1, round(image.shape[1] * factor))
    return scale(image, width, height, method)


def scale_to_total_pixels(image: torch.Tensor, megapixels: float, method: str = "nearest-exact") -> torch.Tensor:
    """Scale keeping the aspect ratio so that width*height ≈ megapixels * 1024²."""
    total = megapixels * 1024 * 1024
    factor = math.sqrt(total / (image.shape[2] * image.shape[1]))
    width = max(1, round(image.shape[2] * factor))
    height = max(1, round(image.shape[1] * factor))
    return scale(image, width, height, method)


def invert(image: torch.Tensor) -> torch.Tensor:
    return 1.0 - image


def batch(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """Concatenate two image batches; the second is resized (bilinear, centre crop) to the first's size."""
    if image1.shape[1:3] != image2.shape[1:3]:
        image2 = scale(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
    return torch.cat([image1, image2.to(image1.dtype)], dim=0)


def solid(width: int, height: int, batch_size: int = 1, color: int = 0) -> torch.Tensor:
    """A batch of images filled with ``color`` (0xRRGGBB)."""
    rgb = torch.tensor([(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF], dtype=torch.float32) / 255.0
    return rgb.expand(batch_size, height, width, 3).clone()


def pad_for_outpaint(image: torch.Tensor, left: int, top: int, right: int, bottom: int, feathering: int = 40):
    """Pad with grey and return ``(image, mask)``; mask is 1 on new pixels, feathered inward from padded edges.

    Inside the original image, a pixel at distance d (< feathering) from a padded edge gets mask
    ((feathering − d) / feathering)², so the sampler blends smoothly into the old content.
    """
    b, h, w, c = image.shape
    out = torch.full((b, h + top + bottom, w + left + right, c), 0.5, dtype=image.dtype)
    out[:, top:top + h, left:left + w] = image
    mask = torch.ones((h + top + bottom, w + left + right), dtype=torch.float32)
    inner = torch.zeros((h, w), dtype=torch.float32)
    if feathering > 0 and feathering * 2 < h and feathering * 2 < w:
        ys = torch.arange(h, dtype=torch.float32).view(h, 1).expand(h, w)
        xs = torch.arange(w, dtype=torch.float32).view(1, w).expand(h, w)
        big = torch.full((h, w), float("inf"))
        d = torch.minimum(
            torch.minimum(ys if top else big, (h - 1 - ys) if bottom else big),
            torch.minimum(xs if left else big, (w - 1 - xs) if right else big),
        )
        v = ((feathering - d) / feathering).clamp(min=0)
        inner = torch.where(d < feathering, v * v, inner)
    mask[top:top + h, left:left + w] = inner
    return out, mask.unsqueeze(0)


# --- Canny edge detection (Canny 1986, "A Computational Approach to Edge Detection") -----------------

def _gaussian_kernel(size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(ax ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Same-size 2-D correlation of N1HW ``x`` with replicate padding (edges do not create edges)."""
    k = kernel.to(x.dtype).view(1, 1, *kernel.shape)
    ph, pw = kernel.shape[0] // 2, kernel.shape[1] // 2
    return F.conv2d(F.pad(x, (pw, pw, ph, ph), mode="replicate"), k)


def canny(image: torch.Tensor, low_threshold: float = 0.4, high_threshold: float = 0.8) -> torch.Tensor:
    """Edges of an IMAGE ``[B,H,W,C]`` as a white-on-black IMAGE ``[B,H,W,3]``.

    Steps: luma (ITU-R BT.601 weights), 5×5 Gaussian (σ=1), unnormalised Sobel gradients, non-maximum
    suppression along the gradient direction quantised to 0/45/90/135°, double threshold on the gradient
    magnitude, then hysteresis: weak pixels survive only when 8-connected to a strong one.
    """
    if low_threshold > high_threshold:
        raise ValueError(f"Canny: low_threshold {low_threshold} is above high_threshold {high_threshold}")
    x = image.movedim(-1, 1).float()
    if x.shape[1] >= 3:
        gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    else:
        gray = x[:, 0:1]
    blurred = _filter(gray, _gaussian_kernel(5, 1.0))
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    gx = _filter(blurred, sobel_x)
    gy = _filter(blurred, sobel_x.t())
    magnitude = torch.sqrt(gx * gx + gy * gy + 1e-12)

    # Direction in [0, 180) quantised to 4 bins; neighbour offsets (dy, dx) across the edge per bin.
    angle = torch.rad2deg(torch.atan2(gy, gx)) % 180.0
    bin_ = (torch.round(angle / 45.0) % 4).long()
    padded = F.pad(magnitude, (1, 1, 1, 1))
    h, w = magnitude.shape[-2:]

    def shifted(dy, dx):
        return padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    offsets = [((0, 1), (0, -1)), ((1, 1), (-1, -1)), ((1, 0), (-1, 0)), ((1, -1), (-1, 1))]
    is_max = torch.zeros_like(magnitude, dtype=torch.bool)
    for b, ((dy1, dx1), (dy2, dx2)) in enumerate(offsets):
        local = (magnitude >= shifted(dy1, dx1)) & (magnitude >= shifted(dy2, dx2))
        is_max |= (bin_ == b) & local
    thin = torch.where(is_max, magnitude, torch.zeros_like(magnitude))

    strong = thin > high_threshold
    weak = thin > low_threshold
    edges = strong
    # Hysteresis by repeated 8-neighbour growth inside the weak set until nothing changes.
    for _ in range(h * w):
        grown = (F.max_pool2d(edges.float(), 3, stride=1, padding=1) > 0) & weak
        if torch.equal(grown, edges):
            break
        edges = grown
    return edges.float().expand(-1, 3, -1, -1).movedim(1, -1).contiguous()
