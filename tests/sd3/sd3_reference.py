"""Test support for tests/sd3: our MM-DiT and diffusers' SD3Transformer2DModel built from one state dict."""
from __future__ import annotations

import dataclasses

import torch


def small_config(x_layers=(), qk_norm=True, depth=3):
    """Width 64 in 4 heads of 16 (so a head-split mistake shows), short text, a 16x16-patch table."""
    from core.models.mmdit import MMDiTConfig

    return MMDiTConfig(hidden_size=64, depth=depth, num_heads=4, context_in_dim=32, pooled_dim=24,
                       pos_embed_max_size=16, qk_norm=qk_norm, x_block_self_attn_layers=tuple(x_layers))


def ours(config, seed=0):
    """(our MMDiT filled from a seeded released-layout state dict, that state dict)."""
    from core.models.building import fill_module, on_meta
    from core.models.mmdit import MMDiT
    from core.models.tiny import tiny_mmdit_state_dict

    sd = tiny_mmdit_state_dict(config, seed)
    net = fill_module(on_meta(lambda: MMDiT(config)), sd, "", torch.float32, "cpu", "test MMDiT")
    return net, sd


def diffusers_from_released(sd: dict, config):
    """diffusers' SD3Transformer2DModel with weights converted by diffusers' own single-file converter."""
    from diffusers import SD3Transformer2DModel
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    ref = SD3Transformer2DModel(
        sample_size=config.pos_embed_max_size, patch_size=config.patch_size, in_channels=config.in_channels,
        num_layers=config.depth, attention_head_dim=config.head_dim, num_attention_heads=config.num_heads,
        joint_attention_dim=config.context_in_dim, caption_projection_dim=config.hidden_size,
        pooled_projection_dim=config.pooled_dim, out_channels=config.out_channels,
        pos_embed_max_size=config.pos_embed_max_size, dual_attention_layers=config.x_block_self_attn_layers,
        qk_norm="rms_norm" if config.qk_norm else None)
    converted = convert_sd3_transformer_checkpoint_to_diffusers({k: v.clone() for k, v in sd.items()})
    ref.load_state_dict(converted, strict=True)
    return ref.eval()


def inputs(config, batch=2, h=8, w=6, tokens=7, seed=1):
    """(latent, timesteps in 0..1000, context, pooled)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, config.in_channels, h, w, generator=g)
    t = torch.tensor([700.0, 120.0][:batch])
    ctx = torch.randn(batch, tokens, config.context_in_dim, generator=g)
    y = torch.randn(batch, config.pooled_dim, generator=g)
    return x, t, ctx, y


def replace(config, **kw):
    return dataclasses.replace(config, **kw)
