"""unCLIP image conditioning: CLIP image embeddings as the U-Net's vector input (``y``).

Each ``unclip_conditioning`` entry of a conditioning (``clip_vision_output``, ``strength``,
``noise_augmentation``) contributes its image embedding, noised to level ``round(999 * augmentation)``
of a 1000-step cosine schedule (Nichol & Dhariwal 2021, eq. 17; the unCLIP models' noise augmentor,
Ramesh et al. 2022 §2.1) and scaled by its strength; several entries are summed. SDXL "revision" feeds
the result to the base model in place of the pooled text embedding; the SD2 unCLIP models also append
a sinusoidal embedding of the noise level. The augmentor's data statistics are 0/1 for these uses, so
noising is the plain forward process.
"""
from __future__ import annotations

import math

import torch

MAX_NOISE_LEVEL = 1000


def cosine_alphas_cumprod(steps: int = MAX_NOISE_LEVEL, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """ᾱ_t of the squared-cosine schedule, betas clipped at ``max_beta`` (Nichol & Dhariwal 2021, eq. 17)."""
    f = lambda t: math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    betas = torch.tensor([min(1 - f(i + 1) / f(i), max_beta) for i in range(steps)], dtype=torch.float64)
    return torch.cumprod(1 - betas, 0)


_ALPHAS = cosine_alphas_cumprod()


def noise_level(augmentation: float) -> int:
    return round((MAX_NOISE_LEVEL - 1) * float(augmentation))


def augment(embeds: torch.Tensor, level: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``embeds`` after ``level`` steps of the forward process: sqrt(ᾱ) x + sqrt(1 - ᾱ) ε."""
    a = _ALPHAS[level]
    noise = torch.randn(embeds.shape, generator=generator, dtype=torch.float32)
    return (a.sqrt() * embeds.float() + (1 - a).sqrt() * noise).float()


def level_embedding(level: int, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of the noise level [1, dim] (the same form as the U-Net's timestep embedding)."""
    from core.models.unet import timestep_embedding

    return timestep_embedding(torch.tensor([float(level)]), dim).float()


def unclip_vector(entries: list, width: int, with_level: bool = False, merge_augmentation: float = 0.0,
                  seed: int = 0) -> torch.Tensor:
    """The vector input [N, width] for a list of unclip_conditioning entries.

    ``width`` is the embedding width the model takes (1280 for SDXL's pooled slot); ``with_level``
    appends the level embedding (SD2 unCLIP, whose vector is embedding ++ level embedding).
    """
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for entry in entries:
        output = entry["clip_vision_output"]
        embeds = output["image_embeds"] if not hasattr(output, "image_embeds") else output.image_embeds
        level = noise_level(entry.get("noise_augmentation", 0.0))
        noised = augment(embeds[:, :width], level, gen)
        if with_level:
            noised = torch.cat([noised, level_embedding(level, width).expand(noised.shape[0], -1)], 1)
        parts.append(noised * float(entry.get("strength", 1.0)))
    if not parts:
        raise ValueError("unclip_conditioning is empty")
    if len(parts) == 1:
        return parts[0]
    # Several images: their weighted embeddings summed, then noised once more at the merge level.
    rows = max(p.shape[0] for p in parts)
    total = sum(p.repeat(-(-rows // p.shape[0]), 1)[:rows] for p in parts)
    level = noise_level(merge_augmentation)
    merged = augment(total[:, :width], level, gen)
    if with_level:
        merged = torch.cat([merged, level_embedding(level, width).expand(rows, -1)], 1)
    return merged
