"""Mask nodes (ComfyUI's mask category): convert between IMAGE and MASK, invert, threshold, grow,
solid masks, and compositing an image or a mask onto another through a mask.

IMAGE is [B, H, W, C] in 0..1, MASK is [B, H, W] (a single [H, W] mask is accepted everywhere).
"""
from __future__ import annotations

from core.execution.spec import MAX_RESOLUTION, Boolean, Combo, Float, In, Int, Node, Output

CHANNELS = ("red", "green", "blue", "alpha")


def as_batch(mask):
    """[B, H, W] from a MASK given as [H, W], [B, H, W] or [B, 1, H, W]."""
    return mask.reshape(-1, mask.shape[-2], mask.shape[-1])


def repeat_to(t, batch: int):
    """``t`` with its batch repeated (cyclically) or cut to ``batch`` items."""
    if t.shape[0] == batch:
        return t
    reps = -(-batch // t.shape[0])
    return t.repeat(reps, *([1] * (t.ndim - 1)))[:batch]


class ImageToMask(Node):
    COMFY_FUNCTION = "image_to_mask"
    CATEGORY = "mask"
    DISPLAY_NAME = "Convert Image to Mask"
    INPUTS = (In("IMAGE", "image"), Combo("channel", choices=list(CHANNELS)))
    OUTPUTS = (Output("MASK"),)

    def execute(self, image, channel):
        index = CHANNELS.index(channel)
        if index >= image.shape[-1]:
            raise ValueError(f"ImageToMask, input 'channel': the image has {image.shape[-1]} channels, no {channel!r}")
        return (image[..., index].clone(),)


class MaskToImage(Node):
    COMFY_FUNCTION = "mask_to_image"
    CATEGORY = "mask"
    DISPLAY_NAME = "Convert Mask to Image"
    INPUTS = (In("MASK", "mask"),)
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, mask):
        return (as_batch(mask).unsqueeze(-1).expand(-1, -1, -1, 3).clone(),)


class InvertMask(Node):
    COMFY_FUNCTION = "invert"
    CATEGORY = "mask"
    DISPLAY_NAME = "InvertMask"
    INPUTS = (In("MASK", "mask"),)
    OUTPUTS = (Output("MASK"),)

    def execute(self, mask):
        return (1.0 - mask,)


class SolidMask(Node):
    COMFY_FUNCTION = "solid"
    CATEGORY = "mask"
    DISPLAY_NAME = "SolidMask"
    INPUTS = (Float("value", default=1.0, min=0.0, max=1.0, step=0.01),
              Int("width", default=512, min=1, max=MAX_RESOLUTION, step=1),
              Int("height", default=512, min=1, max=MAX_RESOLUTION, step=1))
    OUTPUTS = (Output("MASK"),)

    def execute(self, value, width, height):
        import torch

        return (torch.full((1, height, width), float(value), dtype=torch.float32),)


class ThresholdMask(Node):
    COMFY_FUNCTION = "image_to_mask"
    CATEGORY = "mask"
    DISPLAY_NAME = "ThresholdMask"
    INPUTS = (In("MASK", "mask"), Float("value", default=0.5, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("MASK"),)

    def execute(self, mask, value):
        return ((mask > value).float(),)


class GrowMask(Node):
    COMFY_FUNCTION = "expand_mask"
    CATEGORY = "mask"
    DISPLAY_NAME = "GrowMask"
    INPUTS = (In("MASK", "mask"), Int("expand", default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION, step=1),
              Boolean("tapered_corners", default=True))
    OUTPUTS = (Output("MASK"),)

    def execute(self, mask, expand, tapered_corners=True):
        import torch
        import torch.nn.functional as F

        # Grey dilation (erosion for negative expand) by a 3x3 footprint, |expand| times: a cross
        # with tapered corners, a full square without.
        m = as_batch(mask).float().unsqueeze(1)
        footprint = torch.ones(3, 3, dtype=torch.bool)
        if tapered_corners:
            footprint[0, 0] = footprint[0, 2] = footprint[2, 0] = footprint[2, 2] = False
        offsets = [(dy - 1, dx - 1) for dy in range(3) for dx in range(3) if footprint[dy, dx]]
        grow = expand > 0
        for _ in range(abs(expand)):
            fill = float("-inf") if grow else float("inf")
            padded = F.pad(m, (1, 1, 1, 1), value=fill)
            h, w = m.shape[-2:]
            shifted = torch.stack([padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets])
            m = shifted.amax(0) if grow else shifted.amin(0)
        return (m.squeeze(1),)


def composite(destination, source, x: int, y: int, mask=None, resize_source: bool = False):
    """``source`` pasted onto a copy of ``destination`` (both [B, C, H, W]) at pixel (x, y), through
    ``mask`` (resized to the source), clipped at the destination's borders."""
    import torch
    import torch.nn.functional as F

    out = destination.clone()
    if resize_source:
        source = F.interpolate(source, size=out.shape[-2:], mode="bilinear", align_corners=False)
    source = repeat_to(source.to(out), out.shape[0])
    sh, sw = source.shape[-2:]
    if mask is None:
        weight = torch.ones((out.shape[0], 1, sh, sw), dtype=out.dtype)
    else:
        weight = F.interpolate(as_batch(mask).unsqueeze(1).to(out), size=(sh, sw), mode="bilinear",
                               align_corners=False)
        weight = repeat_to(weight, out.shape[0])
    top, left = max(y, 0), max(x, 0)
    bottom, right = min(y + sh, out.shape[-2]), min(x + sw, out.shape[-1])
    if bottom <= top or right <= left:
        return out
    sy, sx = top - y, left - x  # where the visible part starts inside the source
    src = source[..., sy:sy + bottom - top, sx:sx + right - left]
    wgt = weight[..., sy:sy + bottom - top, sx:sx + right - left]
    region = out[..., top:bottom, left:right]
    out[..., top:bottom, left:right] = wgt * src + (1 - wgt) * region
    return out


def match_channels(a, b):
    """Give the image with fewer channels an opaque alpha so both can be composited (RGB vs RGBA)."""
    import torch

    if a.shape[-1] < b.shape[-1]:
        a = torch.cat([a, torch.ones((*a.shape[:-1], b.shape[-1] - a.shape[-1]), dtype=a.dtype)], -1)
    elif b.shape[-1] < a.shape[-1]:
        b = torch.cat([b, torch.ones((*b.shape[:-1], a.shape[-1] - b.shape[-1]), dtype=b.dtype)], -1)
    return a, b


class ImageCompositeMasked(Node):
    COMFY_FUNCTION = "composite"
    CATEGORY = "image"
    DISPLAY_NAME = "ImageCompositeMasked"
    INPUTS = (In("IMAGE", "destination"), In("IMAGE", "source"),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1), Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1),
              Boolean("resize_source", default=False), In("MASK", "mask", optional=True))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, destination, source, x, y, resize_source=False, mask=None):
        destination, source = match_channels(destination, source)
        out = composite(destination.movedim(-1, 1), source.movedim(-1, 1), x, y, mask, resize_source)
        return (out.movedim(1, -1),)


MASK_OPS = ("multiply", "add", "subtract", "and", "or", "xor")


class MaskComposite(Node):
    COMFY_FUNCTION = "combine"
    CATEGORY = "mask"
    DISPLAY_NAME = "MaskComposite"
    INPUTS = (In("MASK", "destination"), In("MASK", "source"),
              Int("x", default=0, min=0, max=MAX_RESOLUTION, step=1), Int("y", default=0, min=0, max=MAX_RESOLUTION, step=1),
              Combo("operation", choices=list(MASK_OPS)))
    OUTPUTS = (Output("MASK"),)

    def execute(self, destination, source, x, y, operation):
        import torch

        out = as_batch(destination).clone().float()
        src = repeat_to(as_batch(source).float(), out.shape[0])
        top, left = min(y, out.shape[-2]), min(x, out.shape[-1])
        bottom, right = min(y + src.shape[-2], out.shape[-2]), min(x + src.shape[-1], out.shape[-1])
        a = out[:, top:bottom, left:right]
        b = src[:, :bottom - top, :right - left]
        if operation == "multiply":
            r = a * b
        elif operation == "add":
            r = a + b
        elif operation == "subtract":
            r = a - b
        else:  # logical operations on the masks rounded to 0/1
            fn = {"and": torch.logical_and, "or": torch.logical_or, "xor": torch.logical_xor}[operation]
            r = fn(a.round().bool(), b.round().bool()).float()
        out[:, top:bottom, left:right] = r
        return (out.clamp(0.0, 1.0),)


class FeatherMask(Node):
    COMFY_FUNCTION = "feather"
    CATEGORY = "mask"
    DISPLAY_NAME = "FeatherMask"
    INPUTS = (In("MASK", "mask"), *(Int(side, default=0, min=0, max=MAX_RESOLUTION, step=1)
                                    for side in ("left", "top", "right", "bottom")))
    OUTPUTS = (Output("MASK"),)

    def execute(self, mask, left, top, right, bottom):
        out = as_batch(mask).clone()
        h, w = out.shape[-2:]
        left, right, top, bottom = min(left, w), min(right, w), min(top, h), min(bottom, h)
        # Linear ramps from the edges inwards: the k-th row/column from an edge keeps (k+1)/width of it.
        # ComfyUI indexes the right and bottom ramps as -k, so their first factor lands on column/row 0;
        # that is kept here so feathered masks match ComfyUI's pixel for pixel.
        for k in range(left):
            out[:, :, k] *= (k + 1) / left
        for k in range(right):
            out[:, :, -k] *= (k + 1) / right
        for k in range(top):
            out[:, k, :] *= (k + 1) / top
        for k in range(bottom):
            out[:, -k, :] *= (k + 1) / bottom
        return (out,)


NODES = [FeatherMask, ImageToMask, MaskToImage, InvertMask, SolidMask, ThresholdMask, GrowMask, ImageCompositeMasked, MaskComposite]
