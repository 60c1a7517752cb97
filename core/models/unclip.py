"""unCLIP image conditioning: CLIP image embeddings as the U-Net's vector input (``y``).

Each ``unclip_conditioning`` entry of a conditioning (``clip_vision_output``, ``strength``,
``noise_augmentation``) contributes its image embedding, noised to level ``round(999 * augmentation)``
of a 1000-step cosine schedule (Nichol & Dhariwal 2021, eq. 17; the unCLIP models' noise augmentor,
Ramesh et al. 2022 §2.1) and scaled by its strength; several entries are summed. SDXL "revision" feeds
the result to the base model in place of the pooled text embedding; the SD2 unCLIP models also append
a sinusoidal embedding of the noise level (``sd2_unclip_vector``), and take zeros for a conditioning
without an image. The augmentor's data statistics are 0/1 for these uses (the released configs name no
statistics file), so noising is the plain forward process; ``augment`` takes other statistics for
models that have them. ``openclip_visual_to_transformers`` reads the image tower unCLIP checkpoints carry.
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


def augment(embeds: torch.Tensor, level: int, generator: torch.Generator | None = None,
            noise: torch.Tensor | None = None, mean=0.0, std=1.0) -> torch.Tensor:
    """``embeds`` after ``level`` steps of the forward process: sqrt(ᾱ) x + sqrt(1 - ᾱ) ε, applied to the
    embeddings standardised by the data statistics ``mean``/``std`` and mapped back after."""
    a = _ALPHAS[level]
    if noise is None:
        noise = torch.randn(embeds.shape, generator=generator, dtype=torch.float32)
    x = (embeds.float() - mean) / std
    return ((a.sqrt() * x + (1 - a).sqrt() * noise.float()) * std + mean).float()


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


def sd2_unclip_vector(opts: dict, batch: int, embed_dim: int, merge_augmentation: float = 0.05,
                      seed: int = 0) -> torch.Tensor:
    """The SD2 unCLIP U-Net's vector input [batch, 2 * embed_dim] for one conditioning entry: its noised
    image embedding ++ the noise level's embedding; zeros when the entry carries no image (the negative
    prompt), as the released models were trained with for classifier-free guidance."""
    entries = opts.get("unclip_conditioning")
    if entries:
        y = unclip_vector(entries, embed_dim, with_level=True, merge_augmentation=merge_augmentation, seed=seed)
    else:
        y = torch.zeros(1, 2 * embed_dim)
    if y.shape[0] != batch:
        y = y.repeat(-(-batch // y.shape[0]), 1)[:batch]
    return y


def openclip_visual_to_transformers(sd: dict, prefix: str) -> dict:
    """An OpenCLIP / OpenAI-CLIP image tower under ``prefix`` (``conv1``, ``transformer.resblocks.N``,
    ``proj`` ..., what unCLIP checkpoints hold under ``embedder.model.visual.``) in the layout of
    transformers' ``CLIPVisionModelWithProjection`` (core/models/clip_vision.py loads that)."""
    v = {k[len(prefix):]: t for k, t in sd.items() if k.startswith(prefix)}
    if "conv1.weight" not in v:
        raise ValueError(f"no CLIP image tower under {prefix!r} (no '{prefix}conv1.weight')")
    e = "vision_model.embeddings."
    out = {e + "patch_embedding.weight": v["conv1.weight"], e + "class_embedding": v["class_embedding"],
           e + "position_embedding.weight": v["positional_embedding"],
           "vision_model.pre_layrnorm.weight": v["ln_pre.weight"], "vision_model.pre_layrnorm.bias": v["ln_pre.bias"],
           "vision_model.post_layernorm.weight": v["ln_post.weight"],
           "vision_model.post_layernorm.bias": v["ln_post.bias"],
           "visual_projection.weight": v["proj"].t().contiguous()}  # x @ proj == Linear with weight proj^T
    layers = sorted({int(k.split(".")[2]) for k in v if k.startswith("transformer.resblocks.")})
    for i in layers:
        r, t = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        for name in ("weight", "bias"):
            q, k_, val = v[f"{r}attn.in_proj_{name}"].chunk(3, dim=0)  # fused [q; k; v] rows
            out.update({f"{t}self_attn.q_proj.{name}": q, f"{t}self_attn.k_proj.{name}": k_,
                        f"{t}self_attn.v_proj.{name}": val,
                        f"{t}self_attn.out_proj.{name}": v[f"{r}attn.out_proj.{name}"],
                        f"{t}layer_norm1.{name}": v[f"{r}ln_1.{name}"], f"{t}layer_norm2.{name}": v[f"{r}ln_2.{name}"],
                        f"{t}mlp.fc1.{name}": v[f"{r}mlp.c_fc.{name}"], f"{t}mlp.fc2.{name}": v[f"{r}mlp.c_proj.{name}"]})
    return out
