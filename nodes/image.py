"""Image nodes: load from the input folder, resize, invert, batch, pad for outpainting, Canny edges.

The pixel work lives in core.images; these classes turn widget values into calls of it. torch and
PIL are imported inside ``execute`` so the catalogue loads fast.
"""
from __future__ import annotations

import hashlib
import logging

from core import paths
from core.execution.spec import MAX_RESOLUTION, Combo, Float, In, Int, Node, Output

log = logging.getLogger(__name__)

UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_METHODS = ("disabled", "center")


def _input_images():
    return paths.get().list_input_images()


def _image_path(node: str, image: str):
    try:
        path = paths.get().annotated_path(image)
    except ValueError as e:
        raise ValueError(f"{node}, input 'image': {e}") from e
    if not path.is_file():
        raise FileNotFoundError(f"{node}, input 'image': file {image!r} not found at {path}")
    return path


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _validate_image(image: str):
    try:
        path = paths.get().annotated_path(image)
    except ValueError:
        return f"Invalid image file: {image}"
    return True if path.is_file() else f"Invalid image file: {image}"


def _to_float(frame):
    """A PIL frame as float32 HWC 0..1; 32-bit integer ('I') images are 16-bit data scaled by 1/255 twice."""
    import numpy as np

    if frame.mode == "I":
        frame = frame.point(lambda v: v * (1 / 255))
    return np.array(frame.convert("RGB")).astype(np.float32) / 255.0


def load_image_file(path):
    """Read every frame of an image file → (IMAGE [B,H,W,3], MASK [B,H,W]); mask = 1 − alpha."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps, ImageSequence

    images, masks = [], []
    with Image.open(path) as img:
        size = None
        frames = [img] if img.format == "MPO" else ImageSequence.Iterator(img)  # MPO: 2nd frame is a depth map
        for frame in frames:
            frame = ImageOps.exif_transpose(frame)
            if size is None:
                size = frame.size
            elif frame.size != size:
                log.warning("LoadImage: frame of size %s in %s skipped (first frame is %s)", frame.size, path, size)
                continue
            images.append(torch.from_numpy(_to_float(frame)))
            if frame.mode == "P" and "transparency" in frame.info:
                frame = frame.convert("RGBA")
            if "A" in frame.getbands():
                alpha = np.array(frame.getchannel("A")).astype(np.float32) / 255.0
                masks.append(1.0 - torch.from_numpy(alpha))
            else:
                masks.append(torch.zeros((64, 64), dtype=torch.float32))
    if len({tuple(m.shape) for m in masks}) > 1:  # some frames had alpha, some not: no-alpha means opaque
        masks = [m if m.shape == images[0].shape[:2] else torch.zeros(images[0].shape[:2]) for m in masks]
    return torch.stack(images), torch.stack(masks)


class LoadImage(Node):
    CATEGORY = "image"
    COMFY_FUNCTION = "load_image"
    DISPLAY_NAME = "Load Image"
    INPUTS = (Combo(name="image", choices=_input_images, image_upload=True),)
    OUTPUTS = (Output("IMAGE"), Output("MASK"))

    def execute(self, image):
        return load_image_file(_image_path("LoadImage", image))

    @classmethod
    def IS_CHANGED(cls, image):
        return _sha256(_image_path("LoadImage", image))

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return _validate_image(image)


class LoadImageMask(Node):
    CATEGORY = "mask"
    COMFY_FUNCTION = "load_image"
    DISPLAY_NAME = "Load Image (as Mask)"
    _color_channels = ["alpha", "red", "green", "blue"]
    INPUTS = (
        Combo(name="image", choices=_input_images, image_upload=True),
        Combo(name="channel", choices=("alpha", "red", "green", "blue")),
    )
    OUTPUTS = (Output("MASK"),)

    def execute(self, image, channel):
        import numpy as np
        import torch
        from PIL import Image, ImageOps

        with Image.open(_image_path("LoadImageMask", image)) as img:
            img = ImageOps.exif_transpose(img)
            if img.getbands() != ("R", "G", "B", "A"):
                if img.mode == "I":
                    img = img.point(lambda v: v * (1 / 255))
                img = img.convert("RGBA")
            band = channel[0].upper()
            values = torch.from_numpy(np.array(img.getchannel(band)).astype(np.float32) / 255.0)
        if band == "A":  # alpha: opaque = keep, so the mask is its inverse
            values = 1.0 - values
        return (values.unsqueeze(0),)

    @classmethod
    def IS_CHANGED(cls, image, channel):
        return _sha256(_image_path("LoadImageMask", image))

    @classmethod
    def VALIDATE_INPUTS(cls, image):
        return _validate_image(image)


class ImageScale(Node):
    CATEGORY = "image/upscaling"
    COMFY_FUNCTION = "upscale"
    DISPLAY_NAME = "Upscale Image"
    upscale_methods = list(UPSCALE_METHODS)  # ComfyUI class attributes plugins read
    crop_methods = list(CROP_METHODS)
    INPUTS = (
        In("IMAGE", "image"),
        Combo(name="upscale_method", choices=UPSCALE_METHODS),
        Int(name="width", default=512, min=0, max=MAX_RESOLUTION, step=1),
        Int(name="height", default=512, min=0, max=MAX_RESOLUTION, step=1),
        Combo(name="crop", choices=CROP_METHODS),
    )
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, upscale_method, width, height, crop):
        from core import images

        return (images.scale(image, width, height, upscale_method, crop),)


class ImageScaleBy(Node):
    CATEGORY = "image/upscaling"
    COMFY_FUNCTION = "upscale"
    DISPLAY_NAME = "Upscale Image By"
    upscale_methods = list(UPSCALE_METHODS)
    INPUTS = (
        In("IMAGE", "image"),
        Combo(name="upscale_method", choices=UPSCALE_METHODS),
        Float(name="scale_by", default=1.0, min=0.01, max=8.0, step=0.01),
    )
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, upscale_method, scale_by):
        from core import images

        return (images.scale_by(image, scale_by, upscale_method),)


class ImageScaleToTotalPixels(Node):
    CATEGORY = "image/upscaling"
    COMFY_FUNCTION = "upscale"
    COMFY_V3 = True
    DISPLAY_NAME = "Scale Image to Total Pixels"
    INPUTS = (
        In("IMAGE", "image"),
        Combo(name="upscale_method", choices=UPSCALE_METHODS),
        Float(name="megapixels", default=1.0, min=0.01, max=16.0, step=0.01),
    )
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, upscale_method, megapixels):
        from core import images

        return (images.scale_to_total_pixels(image, megapixels, upscale_method),)


class ImageInvert(Node):
    CATEGORY = "image"
    COMFY_FUNCTION = "invert"
    DISPLAY_NAME = "Invert Image"
    INPUTS = (In("IMAGE", "image"),)
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image):
        from core import images

        return (images.invert(image),)


class ImageBatch(Node):
    CATEGORY = "image"
    COMFY_FUNCTION = "batch"
    DISPLAY_NAME = "Batch Images"
    INPUTS = (In("IMAGE", "image1"), In("IMAGE", "image2"))
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image1, image2):
        from core import images

        return (images.batch(image1, image2),)


class EmptyImage(Node):
    CATEGORY = "image"
    COMFY_FUNCTION = "generate"
    DISPLAY_NAME = "EmptyImage"
    INPUTS = (
        Int(name="width", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Int(name="height", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Int(name="batch_size", default=1, min=1, max=4096),
        Int(name="color", default=0, min=0, max=0xFFFFFF, step=1, display="color"),
    )
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, width, height, batch_size, color):
        from core import images

        return (images.solid(width, height, batch_size, color),)


class ImagePadForOutpaint(Node):
    CATEGORY = "image"
    COMFY_FUNCTION = "expand_image"
    DISPLAY_NAME = "Pad Image for Outpainting"
    INPUTS = (
        In("IMAGE", "image"),
        Int(name="left", default=0, min=0, max=MAX_RESOLUTION, step=8),
        Int(name="top", default=0, min=0, max=MAX_RESOLUTION, step=8),
        Int(name="right", default=0, min=0, max=MAX_RESOLUTION, step=8),
        Int(name="bottom", default=0, min=0, max=MAX_RESOLUTION, step=8),
        Int(name="feathering", default=40, min=0, max=MAX_RESOLUTION, step=1),
    )
    OUTPUTS = (Output("IMAGE"), Output("MASK"))

    def execute(self, image, left, top, right, bottom, feathering):
        from core import images

        return images.pad_for_outpaint(image, left, top, right, bottom, feathering)


class Canny(Node):
    CATEGORY = "image/preprocessors"
    COMFY_FUNCTION = "detect_edge"
    COMFY_V3 = True
    DISPLAY_NAME = "Canny"
    INPUTS = (
        In("IMAGE", "image"),
        Float(name="low_threshold", default=0.4, min=0.01, max=0.99, step=0.01),
        Float(name="high_threshold", default=0.8, min=0.01, max=0.99, step=0.01),
    )
    OUTPUTS = (Output("IMAGE"),)

    def execute(self, image, low_threshold, high_threshold):
        from core import images

        try:
            return (images.canny(image, low_threshold, high_threshold),)
        except ValueError as e:
            raise ValueError(f"Canny, input 'low_threshold': {e}") from e


NODES = [LoadImage, LoadImageMask, ImageScale, ImageScaleBy, ImageScaleToTotalPixels, ImageInvert,
         ImageBatch, EmptyImage, ImagePadForOutpaint, Canny]
