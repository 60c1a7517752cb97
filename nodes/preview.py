"""Preview nodes of ComfyUI's current core: Preview Any (any value as text), Mask Preview and Image
Compare (two image sets for the frontend's slider). Images go to the temp folder like PreviewImage."""
from __future__ import annotations

import json
import random
import string

from core.execution.spec import HIDDEN_EXTRA_PNGINFO, HIDDEN_PROMPT, In, Node, Output

HIDDEN = {"prompt": HIDDEN_PROMPT, "extra_pnginfo": HIDDEN_EXTRA_PNGINFO}


def as_text(value) -> str:
    """How Preview Any shows a value: strings as they are, numbers and booleans by str, the rest as JSON."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value) if not hasattr(value, "shape") else f"{type(value).__name__} of shape {tuple(value.shape)}"


def save_temp(images, prefix: str, prompt=None, extra_pnginfo=None) -> list:
    from core import paths
    from core.workflow import png as pngmeta

    suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
    return pngmeta.save_images(images, f"{prefix}_temp_{suffix}", paths.get().temp_dir, "temp", prompt,
                               extra_pnginfo, compress_level=1)


class PreviewAny(Node):
    COMFY_FUNCTION = "main"
    CATEGORY = "utils"
    DISPLAY_NAME = "Preview Any"
    OUTPUT_NODE = True
    INPUTS = (In("*", "source"),)
    OUTPUTS = (Output("STRING"),)

    def execute(self, source=None):
        text = as_text(source)
        return {"ui": {"text": (text,)}, "result": (text,)}


class MaskPreview(Node):
    CATEGORY = "mask"
    DISPLAY_NAME = "MaskPreview"
    OUTPUT_NODE = True
    INPUTS = (In("MASK", "mask"),)
    OUTPUTS = ()
    HIDDEN = HIDDEN

    def execute(self, mask, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        grey = mask.reshape(-1, mask.shape[-2], mask.shape[-1]).unsqueeze(-1).expand(-1, -1, -1, 3)
        return {"ui": {"images": save_temp(grey, filename_prefix, prompt, extra_pnginfo)}}


class ImageCompare(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "image"
    DISPLAY_NAME = "Image Compare"
    DESCRIPTION = "Compares two images side by side with a slider."
    OUTPUT_NODE = True
    # compare_view is the frontend's slider widget (type IMAGECOMPARE); it carries no data to the server.
    INPUTS = (In("IMAGE", "image_a", optional=True), In("IMAGE", "image_b", optional=True),
              In("IMAGECOMPARE", "compare_view", optional=True))
    OUTPUTS = ()

    def execute(self, image_a=None, image_b=None, compare_view=None):
        ui = {"a_images": [], "b_images": []}
        if image_a is not None and len(image_a):
            ui["a_images"] = save_temp(image_a, "comfy.compare.a")
        if image_b is not None and len(image_b):
            ui["b_images"] = save_temp(image_b, "comfy.compare.b")
        return {"ui": ui}


NODES = [PreviewAny, MaskPreview, ImageCompare]
