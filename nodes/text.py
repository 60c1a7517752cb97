"""Text-encoder nodes: encode prompts, clip skip, load standalone CLIP files (docs/comfy-api.md §6).

The work lives in core.models.text_encoder (ClipHandle); torch is imported only when a node runs.
"""
from __future__ import annotations

import logging

from core import paths
from core.execution.spec import MAX_RESOLUTION, Combo, Float, In, Int, Node, Output, String

log = logging.getLogger(__name__)

# ComfyUI's `type` lists (nodes.py of 2025-10-12), and "flux2", which FLUX.2's official templates use.
# Which ones load is core.models.text_encoder.CLIP_TYPES; the others fail naming the node, input and value.
CLIP_LOADER_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "mochi", "ltxv", "pixart", "cosmos",
                     "lumina2", "wan", "hidream", "chroma", "ace", "omnigen2", "qwen_image", "hunyuan_image", "flux2")
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux", "hunyuan_video", "hidream", "hunyuan_image")
DEVICES = ("default", "cpu")


def _text_encoder_files():
    return paths.get().get_filename_list("text_encoders")


def _require_clip(node: str, clip):
    if clip is None:
        raise ValueError(f"{node}, input 'clip': no text encoder (the checkpoint loader found none in its file; "
                         "load one with CLIPLoader / DualCLIPLoader)")
    return clip


def _prompt(name: str) -> String:
    return String(name=name, multiline=True, dynamic_prompts=True)


class CLIPTextEncode(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "encode"
    DISPLAY_NAME = "CLIP Text Encode (Prompt)"
    DESCRIPTION = "Encodes a prompt (with (word:1.2) weights and embedding:name) into conditioning."
    INPUTS = (_prompt("text"), In("CLIP", "clip"))
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, text):
        clip = _require_clip("CLIPTextEncode", clip)
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text)),)


class CLIPTextEncodeSDXL(Node):
    CATEGORY = "advanced/conditioning"
    COMFY_FUNCTION = "encode"
    COMFY_V3 = True
    DISPLAY_NAME = "CLIPTextEncodeSDXL"
    INPUTS = (
        In("CLIP", "clip"),
        Int(name="width", default=1024, min=0, max=MAX_RESOLUTION),
        Int(name="height", default=1024, min=0, max=MAX_RESOLUTION),
        Int(name="crop_w", default=0, min=0, max=MAX_RESOLUTION),
        Int(name="crop_h", default=0, min=0, max=MAX_RESOLUTION),
        Int(name="target_width", default=1024, min=0, max=MAX_RESOLUTION),
        Int(name="target_height", default=1024, min=0, max=MAX_RESOLUTION),
        _prompt("text_g"),
        _prompt("text_l"),
    )
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, width, height, crop_w, crop_h, target_width, target_height, text_g, text_l):
        clip = _require_clip("CLIPTextEncodeSDXL", clip)
        tokens = clip.tokenize(text_g)
        if "l" in tokens:
            tokens["l"] = clip.tokenize(text_l)["l"]  # chunk counts are equalised when encoding
        sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
                 "target_width": target_width, "target_height": target_height}
        return (clip.encode_from_tokens_scheduled(tokens, add_dict=sizes),)


class CLIPTextEncodeSDXLRefiner(Node):
    CATEGORY = "advanced/conditioning"
    COMFY_FUNCTION = "encode"
    COMFY_V3 = True
    DISPLAY_NAME = "CLIPTextEncodeSDXLRefiner"
    INPUTS = (
        Float(name="ascore", default=6.0, min=0.0, max=1000.0, step=0.01),
        Int(name="width", default=1024, min=0, max=MAX_RESOLUTION),
        Int(name="height", default=1024, min=0, max=MAX_RESOLUTION),
        _prompt("text"),
        In("CLIP", "clip"),
    )
    OUTPUTS = (Output("CONDITIONING"),)

    def execute(self, clip, ascore, width, height, text):
        clip = _require_clip("CLIPTextEncodeSDXLRefiner", clip)
        extra = {"aesthetic_score": ascore, "width": width, "height": height}
        return (clip.encode_from_tokens_scheduled(clip.tokenize(text), add_dict=extra),)


class CLIPSetLastLayer(Node):
    CATEGORY = "conditioning"
    COMFY_FUNCTION = "set_last_layer"
    DISPLAY_NAME = "CLIP Set Last Layer"
    INPUTS = (In("CLIP", "clip"), Int(name="stop_at_clip_layer", default=-1, min=-24, max=-1, step=1))
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip, stop_at_clip_layer):
        clip = _require_clip("CLIPSetLastLayer", clip).clone()
        clip.clip_layer(stop_at_clip_layer)
        return (clip,)


def _device_choice(device: str):
    import torch

    return torch.device("cpu") if device == "cpu" else None


def _load_clip(node: str, inputs: dict, clip_type: str, device: str, choices=("sd3",)):
    """CLIP from the files named by ``inputs`` (input name -> file name) for ``clip_type``; errors name the node."""
    from core.models.text_encoder import CLIP_TYPES, clip_from_files

    if clip_type not in CLIP_TYPES or clip_type not in choices:
        supported = ", ".join(t for t in choices if t in CLIP_TYPES)
        raise ValueError(f"{node}, input 'type': {clip_type!r} text encoders are not supported "
                         f"(supported: {supported})")
    files = [_text_encoder_path(node, name, value) for name, value in inputs.items()]
    try:
        clip = clip_from_files(files, clip_type)
    except (ValueError, KeyError) as e:
        names = " + ".join(inputs.values())
        raise ValueError(f"{node}, input 'type' {clip_type!r} with {names}: {e}") from e
    clip.device = _device_choice(device)
    return clip


class CLIPLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "load_clip"
    DISPLAY_NAME = "Load CLIP"
    DESCRIPTION = ("[Recipes]\n\nstable_diffusion: clip-l (SD1) or OpenCLIP-H (SD2)\n"
                   "sd3: t5 xxl / clip-g / clip-l")
    INPUTS = (
        Combo(name="clip_name", choices=_text_encoder_files),
        Combo(name="type", choices=CLIP_LOADER_TYPES),
        Combo(name="device", choices=DEVICES, optional=True, extra={"advanced": True}),
    )
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip_name, type="stable_diffusion", device="default"):
        return (_load_clip("CLIPLoader", {"clip_name": clip_name}, type, device, CLIP_LOADER_TYPES),)


class DualCLIPLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "load_clip"
    DISPLAY_NAME = "DualCLIPLoader"
    DESCRIPTION = ("[Recipes]\n\nsdxl: clip-l, clip-g\nsd3: clip-l, clip-g / clip-l, t5 / clip-g, t5\n"
                   "flux: clip-l, t5")
    INPUTS = (
        Combo(name="clip_name1", choices=_text_encoder_files),
        Combo(name="clip_name2", choices=_text_encoder_files),
        Combo(name="type", choices=DUAL_CLIP_TYPES),
        Combo(name="device", choices=DEVICES, optional=True, extra={"advanced": True}),
    )
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip_name1, clip_name2, type="sdxl", device="default"):
        names = {"clip_name1": clip_name1, "clip_name2": clip_name2}
        clip = _load_clip("DualCLIPLoader", names, type, device, DUAL_CLIP_TYPES)
        return (clip,)


class TripleCLIPLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    DISPLAY_NAME = "TripleCLIPLoader"
    DESCRIPTION = "[Recipes]\n\nsd3: clip-l, clip-g, t5"
    INPUTS = (
        Combo(name="clip_name1", choices=_text_encoder_files),
        Combo(name="clip_name2", choices=_text_encoder_files),
        Combo(name="clip_name3", choices=_text_encoder_files),
    )
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip_name1, clip_name2, clip_name3):
        names = {"clip_name1": clip_name1, "clip_name2": clip_name2, "clip_name3": clip_name3}
        return (_load_clip("TripleCLIPLoader", names, "sd3", "default"),)


def _text_encoder_path(node: str, input_name: str, name: str):
    try:
        return paths.get().get_full_path_or_raise("text_encoders", name)
    except (FileNotFoundError, ValueError) as e:
        raise FileNotFoundError(f"{node}, input '{input_name}': {e}") from e


NODES = [CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner, CLIPSetLastLayer, CLIPLoader, DualCLIPLoader,
         TripleCLIPLoader]
