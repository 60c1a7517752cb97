"""ComfyUI's ``comfy.lora``: LoRA key maps and ``load_lora`` over core.models.lora.

``model_lora_keys_unet(model)`` / ``model_lora_keys_clip(clip)`` give ``{LoRA module name: weight
key}``; ``load_lora(lora_sd, key_map)`` gives ``{weight key: [patch]}`` that ``add_patches`` takes.
"""
from __future__ import annotations

from core.compat.missing import module_getattr


def _model_keys(obj) -> set:
    if hasattr(obj, "weight_keys"):
        return set(obj.weight_keys())
    return set(obj.checkpoint_keys())


def model_lora_keys_unet(model, key_map=None) -> dict:
    from core.models.lora import key_map as build

    key_map = {} if key_map is None else key_map
    owner = getattr(model, "_handle", model)  # a MODEL or its .model view
    key_map.update({name: target[0] for name, target in build(_model_keys(owner)).items() if target[1] is None})
    return key_map


def model_lora_keys_clip(model, key_map=None) -> dict:
    from core.models.lora import key_map as build

    key_map = {} if key_map is None else key_map
    key_map.update({name: target[0] for name, target in build(_model_keys(model)).items() if target[1] is None})
    return key_map


def load_lora(lora, to_load, log_missing: bool = True) -> dict:
    """``{weight key: patch list}`` for the LoRA module names in ``to_load`` (a key map)."""
    from core.models.lora import lora_patches

    kmap = {name: (key, None) if isinstance(key, str) else key for name, key in to_load.items()}
    patches, _unmatched = lora_patches(lora, kmap, 1.0)
    return {key: plist[0] if len(plist) == 1 else plist for key, plist in patches.items()}


__getattr__ = module_getattr(__name__)
