"""Per-entry conditioning vectors of DiT families, built once before the step loop like SDXL's ADM.

FLUX.1: the pooled CLIP-L vector with the entry's guidance scale (FluxGuidance; 3.5 when unset, as
ComfyUI) appended as one last column; core/models/flux.py splits the two again. Carrying guidance in
the vector keeps it per entry, so positive and negative batched in one call each keep their own.

Z-Image: the entry's caption length (``num_tokens``, ComfyUI's name). Prompts of different lengths are
batched by repeating each to a common length (guidance._match_tokens); the network attends over its
own caption tokens with their positions, so it must cut the repeats off again (core/models/zimage.py).
"""
from __future__ import annotations

import torch

DEFAULT_FLUX_GUIDANCE = 3.5


def flux_vector(opts: dict, batch: int, pooled_dim: int) -> torch.Tensor:
    pooled = opts.get("pooled_output")
    if pooled is None:  # zeroed-out or hand-made conditioning: no text vector
        pooled = torch.zeros(1, pooled_dim)
    pooled = pooled.float().reshape(pooled.shape[0], -1)
    if pooled.shape[1] != pooled_dim:
        raise ValueError(f"FLUX conditioning: pooled_output has {pooled.shape[1]} values, the model expects "
                         f"{pooled_dim} (CLIP-L's pooled output)")
    guidance = opts.get("guidance", DEFAULT_FLUX_GUIDANCE)
    guidance = 0.0 if guidance is None else float(guidance)
    y = torch.cat([pooled, pooled.new_full((pooled.shape[0], 1), guidance)], dim=1)
    if y.shape[0] != batch:
        y = y.repeat(-(-batch // y.shape[0]), 1)[:batch]
    return y


def sd3_vector(opts: dict, batch: int, pooled_dim: int) -> torch.Tensor:
    """SD3 / SD3.5: the pooled CLIP-L ++ CLIP-G vector ``y`` [batch, 2048]; zeros when the entry has none
    (ConditioningZeroOut keeps a zeroed one; hand-made conditionings may carry none), as ComfyUI."""
    pooled = opts.get("pooled_output")
    if pooled is None:
        pooled = torch.zeros(1, pooled_dim)
    pooled = pooled.float().reshape(pooled.shape[0], -1)
    if pooled.shape[1] != pooled_dim:
        raise ValueError(f"SD3 conditioning: pooled_output has {pooled.shape[1]} values, the model expects "
                         f"{pooled_dim} (CLIP-L ++ CLIP-G pooled outputs)")
    if pooled.shape[0] != batch:
        pooled = pooled.repeat(-(-batch // pooled.shape[0]), 1)[:batch]
    return pooled


def caption_length(opts: dict, batch: int) -> torch.Tensor:
    """[batch, 2]: the entry's real token count n as (n // 128, n % 128), set by prepare_conds from its
    context. Two small integers survive the cast to bfloat16 exactly (it keeps integers only up to 256)."""
    n = opts.get("num_tokens")
    if n is None:
        raise ValueError("Z-Image conditioning: the entry's token count is unknown (no 'num_tokens')")
    n = int(n)
    return torch.tensor([[float(n // 128), float(n % 128)]]).repeat(batch, 1)
