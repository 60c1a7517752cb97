"""Text-encoder nodes: encode prompts, clip skip, load standalone CLIP files (docs/comfy-api.md §6).

The work lives in core.models.text_encoder (ClipHandle); torch is imported only when a node runs.
"""
from __future__ import annotations

import logging

from core import paths
from core.execution.spec import MAX_RESOLUTION, Combo, Float, In, Int, Node, Output, String

log = logging.getLogger(__name__)

CLIP_LOADER_TYPES = ("stable_diffusion", "stable_cascade", "sd3", "stable_audio", "lumina2", "flux2", "qwen_image")
# lumina2: Qwen3-4B for Z-Image; flux2: Qwen3-4B/8B for FLUX.2 [klein] (core/models/qwen3_text.py);
# qwen_image: Qwen2.5-VL-7B for Qwen-Image (core/models/qwen_vl_text.py)
CLIP_LOADER_SUPPORTED = ("stable_diffusion", "lumina2", "flux2", "qwen_image")
DUAL_CLIP_TYPES = ("sdxl", "sd3", "flux")
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


class CLIPLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "load_clip"
    DISPLAY_NAME = "Load CLIP"
    INPUTS = (
        Combo(name="clip_name", choices=_text_encoder_files),
        Combo(name="type", choices=CLIP_LOADER_TYPES),
        Combo(name="device", choices=DEVICES, optional=True, extra={"advanced": True}),
    )
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip_name, type="stable_diffusion", device="default"):
        from core.models.text_encoder import clip_from_files

        if type not in CLIP_LOADER_SUPPORTED:
            raise ValueError(f"CLIPLoader, input 'type': {type!r} text encoders are not supported "
                             "(supported: stable_diffusion = SD1 CLIP-L or SD2 OpenCLIP-H, lumina2 = Qwen3-4B for "
                             "Z-Image, flux2 = Qwen3 for FLUX.2 [klein], qwen_image = Qwen2.5-VL for Qwen-Image)")
        path = _text_encoder_path("CLIPLoader", "clip_name", clip_name)
        try:
            clip = clip_from_files([path], type)
        except (ValueError, KeyError) as e:
            raise ValueError(f"CLIPLoader, input 'clip_name': {clip_name}: {e}") from e
        clip.device = _device_choice(device)
        return (clip,)


class DualCLIPLoader(Node):
    CATEGORY = "advanced/loaders"
    COMFY_FUNCTION = "load_clip"
    DISPLAY_NAME = "DualCLIPLoader"
    INPUTS = (
        Combo(name="clip_name1", choices=_text_encoder_files),
        Combo(name="clip_name2", choices=_text_encoder_files),
        Combo(name="type", choices=DUAL_CLIP_TYPES),
        Combo(name="device", choices=DEVICES, optional=True, extra={"advanced": True}),
    )
    OUTPUTS = (Output("CLIP"),)

    def execute(self, clip_name1, clip_name2, type="sdxl", device="default"):
        from core.models.text_encoder import clip_from_files

        if type != "sdxl":
            raise ValueError(f"DualCLIPLoader, input 'type': {type!r} is not supported (supported: sdxl = CLIP-L + CLIP-G)")
        files = [_text_encoder_path("DualCLIPLoader", "clip_name1", clip_name1),
                 _text_encoder_path("DualCLIPLoader", "clip_name2", clip_name2)]
        try:
            clip = clip_from_files(files, "sdxl")
        except (ValueError, KeyError) as e:
            raise ValueError(f"DualCLIPLoader: {clip_name1} + {clip_name2}: {e}") from e
        clip.device = _device_choice(device)
        return (clip,)


def _text_encoder_path(node: str, input_name: str, name: str):
    try:
        return paths.get().get_full_path_or_raise("text_encoders", name)
    except (FileNotFoundError, ValueError) as e:
        raise FileNotFoundError(f"{node}, input '{input_name}': {e}") from e


NODES = [CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner, CLIPSetLastLayer, CLIPLoader, DualCLIPLoader]
