"""SD3 / SD3.5 (MM-DiT) detection from a state dict's keys and shapes (the rule core/models/detection.py
asks first for files without a U-Net).

The hyperparameters follow from shapes as Stability AI's reference loader reads them (sd3.5 repo,
sd3_impls.py): width from ``x_embedder.proj``, depth from the joint block numbers, the position table
side from ``pos_embed``, q/k RMSNorm from ``ln_q``/``ln_k``, MMDiT-X layers from ``x_block.attn2``.
Every release has 64 channels per head; ``ln_q``'s width says so when present.
"""
from __future__ import annotations

import math
import re

MMDIT_PREFIXES = ("model.diffusion_model.", "")
TEXT_ENCODER_PREFIXES = (("text_encoders.clip_l.", "clip_l"), ("text_encoders.clip_g.", "clip_g"),
                         ("text_encoders.t5xxl.", "t5xxl"))


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def mmdit_prefix(sd) -> str | None:
    for prefix in MMDIT_PREFIXES:
        if f"{prefix}joint_blocks.0.x_block.attn.qkv.weight" in sd and f"{prefix}x_embedder.proj.weight" in sd:
            return prefix
    return None


def detect_mmdit_config(sd, prefix: str, name: str = "state dict"):
    from core.models.detection import DetectionError
    from core.models.mmdit import MMDiTConfig

    hidden, in_channels, patch, _ = _shape(sd[f"{prefix}x_embedder.proj.weight"])
    blocks = {int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + r"joint_blocks\.(\d+)\.", k)] if m}
    depth = max(blocks) + 1
    if blocks != set(range(depth)):
        raise DetectionError(f"{name}: MM-DiT joint blocks {sorted(set(range(depth)) - blocks)} are missing")
    ln_q = sd.get(f"{prefix}joint_blocks.0.x_block.attn.ln_q.weight") if hasattr(sd, "get") else None
    head_dim = _shape(ln_q)[0] if ln_q is not None else 64
    if hidden % head_dim:
        raise DetectionError(f"{name}: MM-DiT width {hidden} is not a multiple of the head size {head_dim}")
    n_pos = _shape(sd[f"{prefix}pos_embed"])[1]
    side = math.isqrt(n_pos)
    if side * side != n_pos:
        raise DetectionError(f"{name}: MM-DiT position table of {n_pos} entries is not square")
    if f"{prefix}context_block.register" in sd or f"{prefix}register" in sd:
        raise DetectionError(f"{name}: MM-DiT with register tokens (SD3 8B research layout) is not supported")
    out_channels = _shape(sd[f"{prefix}final_layer.linear.weight"])[0] // (patch * patch)
    x_layers = sorted(i for i in blocks if f"{prefix}joint_blocks.{i}.x_block.attn2.qkv.weight" in sd)
    return MMDiTConfig(
        in_channels=in_channels, out_channels=out_channels, patch_size=patch, hidden_size=hidden, depth=depth,
        num_heads=hidden // head_dim,
        mlp_ratio=_shape(sd[f"{prefix}joint_blocks.0.x_block.mlp.fc1.weight"])[0] / hidden,
        context_in_dim=_shape(sd[f"{prefix}context_embedder.weight"])[1],
        pooled_dim=_shape(sd[f"{prefix}y_embedder.mlp.0.weight"])[1],
        pos_embed_max_size=side, qk_norm=ln_q is not None, x_block_self_attn_layers=tuple(x_layers),
        qkv_bias=f"{prefix}joint_blocks.0.x_block.attn.qkv.bias" in sd)


def variant(cfg) -> str:
    """Which release the shapes match: the name ComfyUI users know the files by."""
    if cfg.x_block_self_attn_layers:
        return "sd35_medium"
    if cfg.qk_norm:
        return "sd35_large"
    return "sd3_medium"


def detect_sd3(sd, prefix: str, name: str):
    from core.models.detection import ModelConfig

    cfg = detect_mmdit_config(sd, prefix, name)
    encoders = tuple(n for p, n in TEXT_ENCODER_PREFIXES if any(k.startswith(p) for k in sd))
    return ModelConfig(family="sd3", prediction="flow", unet=cfg, in_channels=cfg.in_channels,
                       text_encoders=encoders,
                       extra={"unet_prefix": prefix, "mmdit": cfg, "variant": variant(cfg)})
