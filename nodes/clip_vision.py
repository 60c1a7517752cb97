"""CLIP vision nodes: load a vision tower, encode an image, and condition on it (unCLIP / SDXL revision)."""
from __future__ import annotations

from core import paths
from core.execution.spec import Combo, Float, In, Node, Output


def _clip_vision_files():
    return paths.get().get_filename_list("clip_vision")


class CLIPVisionLoader(Node):
    COMFY_FUNCTION = "load_clip"
    CATEGORY = "loaders"
    DISPLAY_NAME = "Load CLIP Vision"
    INPUTS = (Combo("clip_name", choices=_clip_vision_files),)
    OUTPUTS = (Output("CLIP_VISION"),)

    def execute(self, clip_name):
        from core.models import clip_vision

        try:
            path = paths.get().get_full_path_or_raise("clip_vision", clip_name)
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(f"CLIPVisionLoader, input 'clip_name': {e}") from e
        try:
            return (clip_vision.load(path),)
        except (ValueError, KeyError) as e:
            raise ValueError(f"CLIPVisionLoader, input 'clip_name': {clip_name}: {e}") from e


class CLIPVisionEncode(Node):
    COMFY_FUNCTION = "encode"
    CATEGORY = "conditioning"
    DISPLAY_NAME = "CLIP Vision Encode"
    INPUTS = (In("CLIP_VISION", "clip_vision"), In("IMAGE", "image"), Combo("crop", choices=["center", "none"]))
    OUTPUTS = (Output("CLIP_VISION_OUTPUT"),)

    def execute(self, clip_vision, image, crop="center"):
        if clip_vision is None:
            raise ValueError("CLIPVisionEncode, input 'clip_vision': no CLIP vision model")
        return (clip_vision.encode_image(image, crop=crop == "center"),)


class unCLIPConditioning(Node):  # noqa: N801 - ComfyUI's class name
    COMFY_FUNCTION = "apply_adm"
    CATEGORY = "conditioning"
    DISPLAY_NAME = "unCLIPConditioning"
    INPUTS = (In("CONDITIONING", "conditioning"), In("CLIP_VISION_OUTPUT", "clip_vision_output"),
              Float("strength", default=1.0, min=-10.0, max=10.0, step=0.01),
              Float("noise_augmentation", default=0.0, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, conditioning, clip_vision_output, strength=1.0, noise_augmentation=0.0):
        if strength == 0:
            return (conditioning,)
        entry = {"clip_vision_output": clip_vision_output, "strength": strength,
                 "noise_augmentation": noise_augmentation}
        out = []
        for context, options in conditioning:
            options = dict(options)
            options["unclip_conditioning"] = [*options.get("unclip_conditioning", []), entry]
            out.append([context, options])
        return (out,)


NODES = [CLIPVisionLoader, CLIPVisionEncode, unCLIPConditioning]
