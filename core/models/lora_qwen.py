"""LoRA names for Qwen-Image's transformer (Lightning distillations, community LoRAs).

Qwen-Image's modules already carry diffusers' names (core/models/qwen_image.py), so a LoRA module name is
the module path itself, as PEFT saves it (``transformer_blocks.0.attn.to_q`` + ``.lora_A/.lora_B.weight``,
lightx2v's Qwen-Image-Lightning files), or under the prefix ``transformer.`` (diffusers'
``save_lora_weights``). kohya ``lora_unet_<path, . -> _>`` and ComfyUI ``diffusion_model.<path>`` names are
mapped for every model by core.models.lora.key_map already.
"""
from __future__ import annotations


def is_qwen_image(paths) -> bool:
    """``paths``: the transformer's weight paths without ``.weight`` (``{path: checkpoint key}``)."""
    return "txt_norm" in paths and "transformer_blocks.0.img_mod.1" in paths


def qwen_image_names(paths: dict) -> dict:
    """``{LoRA module name: (checkpoint key, None)}`` for the bare and ``transformer.``-prefixed paths."""
    out = {}
    for path, key in paths.items():
        out[path] = (key, None)
        out["transformer." + path] = (key, None)
    return out
