"""Image utility nodes of ComfyUI's current core: sizes, batches, stitching, resizing with padding or to
a longest side, alpha, and the resolution picker. Pixel work is torch on IMAGE [B, H, W, C] in 0..1.
"""
from __future__ import annotations

import logging
import math

from core.execution.spec import MAX_RESOLUTION, Boolean, Combo, Float, In, Int, Node, Output

log = logging.getLogger(__name__)
SCALE_METHODS = ("area", "bicubic", "nearest-exact", "bilinear", "lanczos")


def _resize(image, width: int, height: int, method: str):
    from core import images

    return images.scale(image, width, height, method)


class GetImageSize(Node):
    COMFY_FUNCTION = "get_size"
    CATEGORY = "image"
    DISPLAY_NAME = "Get Image Size"
    DESCRIPTION = "Returns width and height of the image, and its batch size."
    INPUTS = (In("IMAGE", "image"),)
    OUTPUTS = (Output("INT", "width"), Output("INT", "height"), Output("INT", "batch_size"))

    def execute(self, image, unique_id=None):  # unique_id: ComfyUI's signature (it shows the size on the node)
        return (int(image.shape[2]), int(image.shape[1]), int(image.shape[0]))


class ImageFromBatch(Node):
    COMFY_FUNCTION = "frombatch"
    CATEGORY = "image/batch"
    DISPLAY_NAME = "ImageFromBatch"
    # A negative index counts from the end of the batch.
    INPUTS = (In("IMAGE", "image"), Int("batch_index", default=0, min=-MAX_RESOLUTION, max=MAX_RESOLUTION),
              Int("length", default=1, min=1, max=MAX_RESOLUTION))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, batch_index, length):
        n = image.shape[0]
        start = batch_index + n if batch_index < 0 else batch_index
        start = max(0, min(n - 1, start))
        return (image[start:start + max(1, min(n - start, length))].clone(),)


AUTOGROW_IMAGES = 50  # ComfyUI's Batch Images grows to at most 50 sockets


class BatchImagesNode(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "image"
    DISPLAY_NAME = "Batch Images"
    # ComfyUI grows these sockets on demand (an Autogrow input "images"); a prompt names them
    # "images.image0", "images.image1", ...; the first two are required.
    INPUTS = tuple(In("IMAGE", f"images.image{i}", optional=i >= 2) for i in range(AUTOGROW_IMAGES))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, **images):
        from core.images import batch

        ordered = [images[k] for k in sorted(images, key=lambda k: int(k.rsplit("image", 1)[1])) if images[k] is not None]
        channels = max(im.shape[-1] for im in ordered)  # RGB beside RGBA: the RGB ones get an opaque alpha
        ordered = [_pad_channels(im, channels) for im in ordered]
        out = ordered[0]
        for more in ordered[1:]:  # each later image is resized to the first one's size
            out = batch(out, more)
        return (out,)


def _pad_channels(a, channels: int):
    import torch

    if a.shape[-1] >= channels:
        return a
    return torch.cat([a, torch.ones((*a.shape[:-1], channels - a.shape[-1]), dtype=a.dtype)], -1)


SPACING_COLORS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "red": (1.0, 0.0, 0.0),
                  "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class ImageStitch(Node):
    COMFY_FUNCTION = "stitch"
    CATEGORY = "image/transform"
    DISPLAY_NAME = "Image Stitch"
    DESCRIPTION = "Stitches image2 to image1 in the given direction (image1 alone when image2 is missing)."
    INPUTS = (In("IMAGE", "image1"), Combo("direction", choices=["right", "down", "left", "up"], default="right"),
              Boolean("match_image_size", default=True), Int("spacing_width", default=0, min=0, max=1024, step=2),
              Combo("spacing_color", choices=list(SPACING_COLORS), default="white"),
              In("IMAGE", "image2", optional=True))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image1, direction="right", match_image_size=True, spacing_width=0, spacing_color="white",
                image2=None):
        import torch
        import torch.nn.functional as F

        if image2 is None:
            return (image1,)
        batch = max(image1.shape[0], image2.shape[0])
        # A shorter batch is padded with its last image.
        image1, image2 = (torch.cat([im, im[-1:].repeat(batch - im.shape[0], 1, 1, 1)]) if im.shape[0] < batch else im
                          for im in (image1, image2))
        horizontal = direction in ("left", "right")
        if match_image_size:  # image2 takes image1's height (side by side) or width (stacked), keeping its aspect
            h1, w1 = image1.shape[1:3]
            h2, w2 = image2.shape[1:3]
            size = (int(h1 * w2 / h2), h1) if horizontal else (w1, int(w1 * h2 / w2))
            image2 = _resize(image2, size[0], size[1], "lanczos")
        else:  # centre the smaller one across the stitch, padded with the spacing grey level
            fill = SPACING_COLORS[spacing_color][0] if spacing_color in ("white", "black") else 0.0
            axis = 1 if horizontal else 2
            target = max(image1.shape[axis], image2.shape[axis])

            def pad(im):
                extra = target - im.shape[axis]
                if not extra:
                    return im
                before, after = extra // 2, extra - extra // 2
                spec = (0, 0, 0, 0, before, after) if horizontal else (0, 0, before, after)
                return F.pad(im, spec, value=fill)
            image1, image2 = pad(image1), pad(image2)
        channels = max(image1.shape[-1], image2.shape[-1])
        image1, image2 = _pad_channels(image1, channels), _pad_channels(image2, channels)
        parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
        if spacing_width > 0:
            width = spacing_width + spacing_width % 2  # kept even
            shape = ((batch, max(image1.shape[1], image2.shape[1]), width, channels) if horizontal
                     else (batch, width, max(image1.shape[2], image2.shape[2]), channels))
            gap = torch.zeros(shape, dtype=image1.dtype)
            gap[..., :min(3, channels)] = torch.tensor(SPACING_COLORS[spacing_color][:min(3, channels)])
            if channels == 4:
                gap[..., 3] = 1.0
            parts.insert(1, gap)
        return (torch.cat(parts, dim=2 if horizontal else 1),)


class ResizeAndPadImage(Node):
    COMFY_FUNCTION = "resize_and_pad"
    CATEGORY = "image/transform"
    DISPLAY_NAME = "ResizeAndPadImage"
    INPUTS = (In("IMAGE", "image"), Int("target_width", default=512, min=1, max=MAX_RESOLUTION, step=1),
              Int("target_height", default=512, min=1, max=MAX_RESOLUTION, step=1),
              Combo("padding_color", choices=["white", "black"]), Combo("interpolation", choices=list(SCALE_METHODS)))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, target_width, target_height, padding_color, interpolation):
        import torch

        b, h, w, c = image.shape
        fit = min(target_width / w, target_height / h)  # the largest size that fits, aspect kept
        new_w, new_h = max(1, int(w * fit)), max(1, int(h * fit))
        resized = _resize(image, new_w, new_h, interpolation)
        out = torch.full((b, target_height, target_width, c), 0.0 if padding_color == "black" else 1.0,
                         dtype=image.dtype)
        top, left = (target_height - new_h) // 2, (target_width - new_w) // 2
        out[:, top:top + new_h, left:left + new_w] = resized
        return (out,)


class ImageScaleToMaxDimension(Node):
    COMFY_FUNCTION = "upscale"
    CATEGORY = "image/upscaling"
    DISPLAY_NAME = "ImageScaleToMaxDimension"
    INPUTS = (In("IMAGE", "image"),
              Combo("upscale_method", choices=["area", "lanczos", "bilinear", "nearest-exact", "bilinear", "bicubic"]),
              Int("largest_size", default=512, min=0, max=MAX_RESOLUTION, step=1))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, upscale_method, largest_size):
        h, w = image.shape[1:3]
        if h > w:
            w, h = round(w / h * largest_size), largest_size
        elif w > h:
            w, h = largest_size, round(h / w * largest_size)
        else:
            w = h = largest_size
        return (_resize(image, w, h, upscale_method),)


class JoinImageWithAlpha(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "mask/compositing"
    DISPLAY_NAME = "Join Image with Alpha"
    INPUTS = (In("IMAGE", "image"), In("MASK", "alpha"))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, alpha):
        import torch
        import torch.nn.functional as F

        # A MASK marks what to cut away, so the alpha channel is its inverse (ComfyUI's convention).
        mask = alpha.reshape(-1, 1, alpha.shape[-2], alpha.shape[-1]).float()
        mask = F.interpolate(mask, size=image.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
        batch = max(image.shape[0], mask.shape[0])
        rgb = image[..., :3].repeat(-(-batch // image.shape[0]), 1, 1, 1)[:batch]
        mask = mask.repeat(-(-batch // mask.shape[0]), 1, 1)[:batch]
        return (torch.cat([rgb, (1.0 - mask).unsqueeze(-1).to(rgb.dtype)], dim=-1),)


ASPECT_RATIOS = {"1:1 (Square)": (1, 1), "3:2 (Photo)": (3, 2), "4:3 (Standard)": (4, 3),
                 "16:9 (Widescreen)": (16, 9), "21:9 (Ultrawide)": (21, 9), "2:3 (Portrait Photo)": (2, 3),
                 "3:4 (Portrait Standard)": (3, 4), "9:16 (Portrait Widescreen)": (9, 16)}


class ResolutionSelector(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "utils"
    DISPLAY_NAME = "Resolution Selector"
    DESCRIPTION = ("Width and height for an aspect ratio and a total of megapixels, rounded to a multiple of "
                   "'multiple' (for Empty Latent Image and friends).")
    INPUTS = (Combo("aspect_ratio", choices=list(ASPECT_RATIOS), default="1:1 (Square)"),
              Float("megapixels", default=1.0, min=0.1, max=16.0, step=0.1),
              Int("multiple", default=8, min=8, max=128, step=4))
    OUTPUTS = (Output("INT", "width"), Output("INT", "height"))

    def execute(self, aspect_ratio, megapixels=1.0, multiple=8):
        rw, rh = ASPECT_RATIOS[aspect_ratio]
        pixels = megapixels * 1024 * 1024  # 1 MP = 1024 x 1024, as ComfyUI counts it
        height = math.sqrt(pixels * rh / rw)
        width = height * rw / rh
        snap = lambda v: max(multiple, round(v / multiple) * multiple)  # noqa: E731
        return (snap(width), snap(height))


NODES = [GetImageSize, ImageFromBatch, BatchImagesNode, ImageStitch, ResizeAndPadImage, ImageScaleToMaxDimension,
         JoinImageWithAlpha, ResolutionSelector]
