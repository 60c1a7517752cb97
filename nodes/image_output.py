"""SaveImage and PreviewImage (docs/comfy-api.md §6, §8): PNGs with the prompt and workflow embedded."""
from __future__ import annotations

import random
import string

from core.execution.spec import HIDDEN_EXTRA_PNGINFO, HIDDEN_PROMPT, In, Node, String

HIDDEN = {"prompt": HIDDEN_PROMPT, "extra_pnginfo": HIDDEN_EXTRA_PNGINFO}


class SaveImage(Node):
    CATEGORY = "image"
    DISPLAY_NAME = "Save Image"
    DESCRIPTION = "Saves the input images to your output directory."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images", tooltip="The images to save."),
              String("filename_prefix", default="ComfyUI",
                     tooltip="The prefix for the file to save. This may include formatting information such as "
                             "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."))
    OUTPUTS = ()
    HIDDEN = HIDDEN

    def execute(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        from core import paths
        from core.workflow import png as pngmeta

        try:
            results = pngmeta.save_images(images, filename_prefix, paths.get().output_dir, "output", prompt,
                                          extra_pnginfo, compress_level=4)
        except pngmeta.OutputPathError as e:
            raise ValueError(f"SaveImage, input 'filename_prefix': {e}") from e
        return {"ui": {"images": results}}


class PreviewImage(Node):
    CATEGORY = "image"
    DISPLAY_NAME = "Preview Image"
    DESCRIPTION = "Saves the input images to the temp directory for display."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images"),)
    OUTPUTS = ()
    HIDDEN = HIDDEN

    def execute(self, images, prompt=None, extra_pnginfo=None):
        from core import paths
        from core.workflow import png as pngmeta

        suffix = "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        results = pngmeta.save_images(images, f"ComfyUI_temp_{suffix}", paths.get().temp_dir, "temp", prompt,
                                      extra_pnginfo, compress_level=1)
        return {"ui": {"images": results}}


NODES = [SaveImage, PreviewImage]
