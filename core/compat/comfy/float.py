"""ComfyUI's ``comfy.float``: rounding float32 values into fp8 / bf16 storage."""
from __future__ import annotations

from core.compat.missing import module_getattr


def stochastic_rounding(value, dtype, seed: int = 0):
    """Round to ``dtype``; fp8/bf16 round stochastically (seeded) so repeated merges stay unbiased."""
    import torch

    if dtype in (torch.float32, torch.float16, torch.float64):
        return value.to(dtype=dtype)
    if dtype == torch.bfloat16:
        gen = torch.Generator(device=value.device).manual_seed(seed)
        bits = value.float().view(torch.int32)
        noise = torch.randint(0, 1 << 16, bits.shape, generator=gen, device=value.device, dtype=torch.int32)
        return ((bits + noise) & -65536).view(torch.float32).to(torch.bfloat16)
    return value.to(dtype=dtype)  # fp8: nearest rounding (torch has no stochastic fp8 cast)


__getattr__ = module_getattr(__name__)
