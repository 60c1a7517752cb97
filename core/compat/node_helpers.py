"""ComfyUI's ``node_helpers`` for custom node packs: conditioning edits and safe PIL opening."""
from __future__ import annotations

import hashlib

from core.compat.missing import module_getattr


def conditioning_set_values(conditioning, values=None, append: bool = False):
    """Copies of the ``[[tensor, dict]]`` entries with ``values`` set in each dict.

    With ``append`` a list value is appended to the entry's existing list instead of replacing it."""
    values = values or {}
    out = []
    for tensor, opts in conditioning:
        new = dict(opts)
        for key, value in values.items():
            if append and key in new:
                new[key] = list(new[key]) + list(value)
            else:
                new[key] = value
        out.append([tensor, new])
    return out


def conditioning_set_values_with_timestep_range(conditioning, values=None, start_percent=0.0, end_percent=1.0):
    """Entries limited to [start, end] with ``values`` set, plus the original outside that range."""
    values = values or {}
    inside = conditioning_set_values(conditioning, {**values, "start_percent": start_percent,
                                                    "end_percent": end_percent})
    before = conditioning_set_values(conditioning, {"start_percent": 0.0, "end_percent": start_percent}) \
        if start_percent > 0 else []
    after = conditioning_set_values(conditioning, {"start_percent": end_percent, "end_percent": 1.0}) \
        if end_percent < 1 else []
    return before + inside + after


def pillow(fn, arg):
    """``fn(arg)`` with PIL's truncated-image tolerance switched on only if the strict call fails."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        return fn(arg)
    except (OSError, SyntaxError, ValueError):
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        return fn(arg)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def hasher():
    return hashlib.sha256


def string_to_torch_dtype(string):
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(string)


def image_alpha_fix(destination, source):
    """Give ``source`` and ``destination`` [B,H,W,C] images the same channel count (alpha added as 1)."""
    import torch

    if destination.shape[-1] < source.shape[-1]:
        source = source[..., :destination.shape[-1]]
    elif destination.shape[-1] > source.shape[-1]:
        pad = torch.ones_like(source[..., :1]).expand(*source.shape[:-1], destination.shape[-1] - source.shape[-1])
        source = torch.cat([source, pad], dim=-1)
    return destination, source


__getattr__ = module_getattr(__name__)
