"""ComfyUI's ``comfy.sampler_helpers``: mask preparation and conditioning helpers packs reuse."""
from __future__ import annotations

from core.compat.missing import module_getattr


def prepare_mask(noise_mask, shape, device):
    """A [B?, H, W] pixel mask -> [B, C, h, w] at latent size (bilinear), repeated to the batch."""
    import torch

    mask = noise_mask.reshape((-1, 1, noise_mask.shape[-2], noise_mask.shape[-1]))
    mask = torch.nn.functional.interpolate(mask.float(), size=(shape[2], shape[3]), mode="bilinear")
    mask = torch.cat([mask] * shape[1], dim=1)
    from comfy.utils import repeat_to_batch_size

    return repeat_to_batch_size(mask, shape[0]).to(device)


def convert_cond(cond):
    """``[[tensor, dict]]`` -> ComfyUI's internal list of dicts (``cross_attn`` = the tensor)."""
    out = []
    for c in cond:
        entry = dict(c[1])
        if c[0] is not None:
            entry["cross_attn"] = c[0]
        entry["model_conds"] = {}
        out.append(entry)
    return out


def get_models_from_cond(cond, model_type):
    return [c[1][model_type] for c in cond if model_type in c[1]]


def get_additional_models(conds, dtype):
    return [], 0


def cleanup_additional_models(models) -> None:
    pass


__getattr__ = module_getattr(__name__)
