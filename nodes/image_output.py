"""SaveImage and PreviewImage (docs/comfy-api.md §6, §8): PNGs with the prompt and workflow embedded."""
from __future__ import annotations

import random
import string

from core.execution.spec import HIDDEN_EXTRA_PNGINFO, HIDDEN_PROMPT, In, Node, String

HIDDEN = {"prompt": HIDDEN_PROMPT, "extra_pnginfo": HIDDEN_EXTRA_PNGINFO}


class SaveImage(Node):
    """Writes to ``self.output_dir`` as ``self.type``: plugins subclass it and change those in ``__init__``
    (ComfyUI's instance attributes: output_dir, type, prefix_append, compress_level)."""

    CATEGORY = "image"
    COMFY_FUNCTION = "save_images"
    DISPLAY_NAME = "Save Image"
    DESCRIPTION = "Saves the input images to your output directory."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images", tooltip="The images to save."),
              String("filename_prefix", default="ComfyUI",
                     tooltip="The prefix for the file to save. This may include formatting information such as "
                             "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."))
    OUTPUTS = ()
    HIDDEN = HIDDEN

    def __init__(self):
        from core import paths

        self.output_dir = str(paths.get().output_dir)
        self.type = "output"
        self.prefix_append = ""
        self.compress_level = 4

    def execute(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        from core.workflow import png as pngmeta

        node = type(self).__name__
        try:
            results = pngmeta.save_images(images, filename_prefix + self.prefix_append, self.output_dir, self.type,
                                          prompt, extra_pnginfo, compress_level=self.compress_level)
        except pngmeta.OutputPathError as e:
            raise ValueError(f"{node}, input 'filename_prefix': {e}") from e
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    CATEGORY = "image"
    DISPLAY_NAME = "Preview Image"
    DESCRIPTION = "Saves the input images to the temp directory for display."
    OUTPUT_NODE = True
    INPUTS = (In("IMAGE", "images"),)
    OUTPUTS = ()
    HIDDEN = HIDDEN

    def __init__(self):
        from core import paths

        self.output_dir = str(paths.get().temp_dir)
        self.type = "temp"
        self.prefix_append = "_temp_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        self.compress_level = 1


NODES = [SaveImage, PreviewImage]
