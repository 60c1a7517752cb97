"""Qwen-Image-Edit prompt nodes (ComfyUI's comfy_extras/nodes_qwen.py interface).

The image is read twice: by Qwen2.5-VL's vision tower inside the prompt (its patch tokens replace the
template's ``<|image_pad|>``; core/models/qwen_vl_text.py), and, with a VAE, as a reference latent appended to
the conditioning's ``reference_latents``, which the transformer appends to its image tokens
(core/models/qwen_image.py). Sizes follow ComfyUI: ~1024x1024 pixels (area resize) for both in the first
node; in the Plus node ~384x384 for the vision tower and ~1024x1024 rounded to multiples of 8 for the VAE.
"""
from __future__ import annotations

import math

from core.execution.spec import In, Node, Output, String

CATEGORY = "advanced/conditioning"


def _require(node: str, clip):
    if clip is None:
        raise ValueError(f"{node}, input 'clip': no text encoder (load Qwen2.5-VL with CLIPLoader, type qwen_image)")
    if not hasattr(clip, "has_vision"):
        raise ValueError(f"{node}, input 'clip': {type(clip).__name__} is not a Qwen2.5-VL text encoder "
                         "(load it with CLIPLoader, type qwen_image)")
    return clip


def _area_resize(image, total_pixels: int, multiple: int = 1):
    """IMAGE [B, H, W, C] scaled (area filter) to about ``total_pixels``, sides rounded to ``multiple``."""
    from core.images import resize_nchw

    h, w = image.shape[1], image.shape[2]
    factor = math.sqrt(total_pixels / (w * h))
    width = max(multiple, round(w * factor / multiple) * multiple)
    height = max(multiple, round(h * factor / multiple) * multiple)
    return resize_nchw(image.movedim(-1, 1), width, height, "area").movedim(1, -1)


def _with_references(conditioning: list, latents: list) -> list:
    """Each entry with ``latents`` appended to its ``reference_latents`` (a copy; the input is unchanged)."""
    out = []
    for cond, opts in conditioning:
        opts = dict(opts)
        opts["reference_latents"] = list(opts.get("reference_latents") or []) + list(latents)
        out.append([cond, opts])
    return out


class TextEncodeQwenImageEdit(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (In("CLIP", "clip"), String(name="prompt", multiline=True, dynamic_prompts=True),
              In("VAE", "vae", optional=True), In("IMAGE", "image", optional=True))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, prompt, vae=None, image=None):
        clip = _require("TextEncodeQwenImageEdit", clip)
        images, refs = [], []
        if image is not None:
            image = _area_resize(image, 1024 * 1024)[..., :3]
            images = [image]
            if vae is not None:
                refs = [vae.encode(image)]
        conditioning = clip.encode_from_tokens_scheduled(clip.tokenize(prompt, images=images))
        return (_with_references(conditioning, refs) if refs else conditioning,)


class TextEncodeQwenImageEditPlus(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (In("CLIP", "clip"), String(name="prompt", multiline=True, dynamic_prompts=True),
              In("VAE", "vae", optional=True), In("IMAGE", "image1", optional=True),
              In("IMAGE", "image2", optional=True), In("IMAGE", "image3", optional=True))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, prompt, vae=None, image1=None, image2=None, image3=None):
        from core.models.qwen_vl_text import PICTURE, TEMPLATE_EDIT_PLUS

        clip = _require("TextEncodeQwenImageEditPlus", clip)
        vl_images, refs, pictures = [], [], ""
        for i, image in enumerate((image1, image2, image3)):
            if image is None:
                continue
            vl_images.append(_area_resize(image, 384 * 384)[..., :3])
            if vae is not None:
                refs.append(vae.encode(_area_resize(image, 1024 * 1024, multiple=8)[..., :3]))
            pictures += PICTURE.format(i + 1)
        tokens = clip.tokenize(pictures + prompt, images=vl_images, llama_template=TEMPLATE_EDIT_PLUS)
        conditioning = clip.encode_from_tokens_scheduled(tokens)
        return (_with_references(conditioning, refs) if refs else conditioning,)


NODES = [TextEncodeQwenImageEdit, TextEncodeQwenImageEditPlus]
