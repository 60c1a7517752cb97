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
    """``{LoRA module name: "diffusion_model.<weight>"}`` (ComfyUI's model key names)."""
    from core.models.lora import key_map as build

    key_map = {} if key_map is None else key_map
    owner = getattr(model, "_handle", model)  # a MODEL or its .model view
    key_map.update({name: target[0][len("model."):] for name, target in build(_model_keys(owner)).items()
                    if target[1] is None})
    return key_map


def model_lora_keys_clip(model, key_map=None) -> dict:
    from core.models.lora import key_map as build

    key_map = {} if key_map is None else key_map
    key_map.update({name: target[0] for name, target in build(_model_keys(model)).items() if target[1] is None})
    return key_map


def load_lora(lora, to_load, log_missing: bool = True) -> dict:
    """``{weight key: patch list}`` for the LoRA module names in ``to_load`` (a key map)."""
    from core.models.lora import lora_patches

    kmap = {name: ("model." + key if key.startswith("diffusion_model.") else key, None) if isinstance(key, str)
            else key for name, key in to_load.items()}
    patches, _unmatched = lora_patches(lora, kmap, 1.0)
    out = {}
    for key, plist in patches.items():
        name = key[len("model."):] if key.startswith("model.diffusion_model.") else key
        out[name] = plist[0] if len(plist) == 1 else _Sum(plist)
    return out


class _Sum:
    """Several patches of one weight (e.g. a LoRA and its bias) as one patch value, as ComfyUI returns one."""

    def __init__(self, patches):
        from core.models.patcher import as_patch

        self.patches = [as_patch(p) for p in patches]

    def delta(self, weight):
        return sum(p.delta(weight) for p in self.patches)


__getattr__ = module_getattr(__name__)
