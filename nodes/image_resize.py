"""Resize Image/Mask (ComfyUI's ResizeImageMaskNode): one node for every way of resizing an IMAGE or a
MASK, chosen with a dynamic combo whose option brings its own inputs (``resize_type.width``, ...)."""
from __future__ import annotations

import math

from core.execution.spec import MAX_RESOLUTION, Combo, DynamicCombo, Float, In, Int, Node, Output

SCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP = Combo("crop", choices=["disabled", "center"], default="center",
             tooltip="'disabled' stretches to fit, 'center' crops to keep the aspect ratio.")


def _size(name, tooltip):
    return Int(name, default=512, min=0, max=MAX_RESOLUTION, step=1, tooltip=tooltip)


RESIZE_TYPES = {
    "scale dimensions": (_size("width", "Target width; 0 follows the height, keeping the aspect ratio."),
                         _size("height", "Target height; 0 follows the width, keeping the aspect ratio."), CROP),
    "scale by multiplier": (Float("multiplier", default=1.0, min=0.01, max=8.0, step=0.01),),
    "scale longer dimension": (_size("longer_size", "The longer edge becomes this long."),),
    "scale shorter dimension": (_size("shorter_size", "The shorter edge becomes this long."),),
    "scale width": (_size("width", "Target width; the height keeps the aspect ratio."),),
    "scale height": (_size("height", "Target height; the width keeps the aspect ratio."),),
    "scale total pixels": (Float("megapixels", default=1.0, min=0.01, max=16.0, step=0.01),),
    "match size": (In("IMAGE,MASK", "match"), CROP),
    "scale to multiple": (Int("multiple", default=8, min=1, max=MAX_RESOLUTION, step=1,
                              tooltip="Width and height become divisible by this (cropping the least)."),),
}


def _resize(x, width: int, height: int, method: str, crop: str = "disabled"):
    """IMAGE [B, H, W, C] or MASK [B, H, W] resized to width x height."""
    from core import images

    width, height = max(1, int(width)), max(1, int(height))
    if x.ndim == 4:
        return images.scale(x, width, height, method, crop)
    return images.scale(x.unsqueeze(-1), width, height, method, crop)[..., 0]


def _hw(x) -> tuple[int, int]:
    return int(x.shape[1]), int(x.shape[2])


def _edge(h: int, w: int, size: int, longer: bool) -> tuple[int, int]:
    """(width, height) with the longer (or shorter) edge set to ``size``, aspect ratio kept."""
    if h == w:
        return size, size
    if (h > w) == longer:
        return round(w / h * size), size
    return size, round(h / w * size)


class ResizeImageMaskNode(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "transform"
    DISPLAY_NAME = "Resize Image/Mask"
    DESCRIPTION = "Resize an image or mask: to dimensions, by a factor, by an edge, to megapixels, to another's size."
    INPUTS = (In("IMAGE,MASK", "input"),
              DynamicCombo("resize_type", choices=RESIZE_TYPES, tooltip="How to resize."),
              Combo("scale_method", choices=SCALE_METHODS, default="area"))
    OUTPUTS = (Output("IMAGE,MASK", "resized"),)

    def execute(self, input, resize_type, scale_method="area", **option):
        get = lambda key, default=None: option.get(f"resize_type.{key}", default)  # noqa: E731
        h, w = _hw(input)
        if resize_type == "scale dimensions":
            width, height = get("width", 512), get("height", 512)
            if width == 0 and height == 0:
                return (input,)
            if width == 0:
                width = max(1, round(w * height / h))
            elif height == 0:
                height = max(1, round(h * width / w))
            return (_resize(input, width, height, scale_method, get("crop", "center")),)
        if resize_type == "scale by multiplier":
            factor = get("multiplier", 1.0)
            return (_resize(input, round(w * factor), round(h * factor), scale_method),)
        if resize_type in ("scale longer dimension", "scale shorter dimension"):
            longer = resize_type == "scale longer dimension"
            size = get("longer_size" if longer else "shorter_size", 512)
            return (_resize(input, *_edge(h, w, size, longer), scale_method),)
        if resize_type == "scale width":
            width = get("width", 512)
            return (_resize(input, width, max(1, round(h * width / w)), scale_method),)
        if resize_type == "scale height":
            height = get("height", 512)
            return (_resize(input, max(1, round(w * height / h)), height, scale_method),)
        if resize_type == "scale total pixels":
            factor = math.sqrt(int(get("megapixels", 1.0) * 1024 * 1024) / (w * h))
            return (_resize(input, round(w * factor), round(h * factor), scale_method),)
        if resize_type == "match size":
            match = get("match")
            if match is None:
                raise ValueError("ResizeImageMaskNode, input 'resize_type.match': connect the image or mask to match")
            mh, mw = _hw(match)
            return (_resize(input, mw, mh, scale_method, get("crop", "center")),)
        if resize_type == "scale to multiple":
            return (self._to_multiple(input, get("multiple", 8), scale_method),)
        raise ValueError(f"ResizeImageMaskNode, input 'resize_type': unknown choice {resize_type!r} "
                         f"(choices: {', '.join(RESIZE_TYPES)})")

    @staticmethod
    def _to_multiple(x, multiple: int, method: str):
        """Cover the largest size divisible by ``multiple`` (scale up the short side), then centre-crop."""
        h, w = _hw(x)
        th, tw = h // multiple * multiple, w // multiple * multiple
        if multiple <= 1 or not th or not tw or (th, tw) == (h, w):
            return x
        if tw / w >= th / h:
            sw, sh = tw, max(th, math.ceil(h * tw / w))
        else:
            sh, sw = th, max(tw, math.ceil(w * th / h))
        scaled = _resize(x, sw, sh, method)
        top, left = (sh - th) // 2, (sw - tw) // 2
        return scaled[:, top:top + th, left:left + tw]


NODES = [ResizeImageMaskNode]
