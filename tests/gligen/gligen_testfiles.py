"""Seeded GLIGEN state dicts in the released key layout for a given U-Net, written by hand from the layout
(``<block path>.fuser.*`` per transformer block, ``position_net.*``)."""
from __future__ import annotations

import torch

from core.models.unet import UNetModel


def transformer_block_paths(unet_cfg) -> list:
    with torch.device("meta"):
        unet = UNetModel(unet_cfg)
    return [m.where["path"] for m in unet.modules() if getattr(m, "where", None)]


def fuser_shapes(query_dim: int, key_dim: int) -> dict:
    inner, ff = query_dim, query_dim * 4
    return {"linear.weight": (query_dim, key_dim), "linear.bias": (query_dim,),
            "attn.to_q.weight": (inner, query_dim), "attn.to_k.weight": (inner, query_dim),
            "attn.to_v.weight": (inner, query_dim), "attn.to_out.0.weight": (query_dim, inner),
            "attn.to_out.0.bias": (query_dim,), "ff.net.0.proj.weight": (2 * ff, query_dim),
            "ff.net.0.proj.bias": (2 * ff,), "ff.net.2.weight": (query_dim, ff), "ff.net.2.bias": (query_dim,),
            "norm1.weight": (query_dim,), "norm1.bias": (query_dim,), "norm2.weight": (query_dim,),
            "norm2.bias": (query_dim,), "alpha_attn": (), "alpha_dense": ()}


def position_net_shapes(in_dim: int, out_dim: int) -> dict:
    pos = 8 * 2 * 4
    return {"linears.0.weight": (512, in_dim + pos), "linears.0.bias": (512,), "linears.2.weight": (512, 512),
            "linears.2.bias": (512,), "linears.4.weight": (out_dim, 512), "linears.4.bias": (out_dim,),
            "null_positive_feature": (in_dim,), "null_position_feature": (pos,)}


def gligen_shapes(unet_cfg, key_dim: int, pooled_dim: int, prefix: str = "") -> dict:
    """Key -> shape: one fuser per transformer block of ``unet_cfg`` (its width from the block's channels)."""
    with torch.device("meta"):
        unet = UNetModel(unet_cfg)
    shapes = {}
    for m in unet.modules():
        where = getattr(m, "where", None)
        if where:
            width = m.norm1.normalized_shape[0]
            shapes.update({f"{prefix}{where['path']}.fuser.{k}": v for k, v in fuser_shapes(width, key_dim).items()})
    shapes.update({f"position_net.{k}": v for k, v in position_net_shapes(pooled_dim, key_dim).items()})
    return shapes


def tiny_gligen_state_dict(unet_cfg, key_dim: int = 768, pooled_dim: int = 32, seed: int = 0,
                           prefix: str = "") -> dict:
    """Weights ~ 1/sqrt(fan_in), LayerNorms near identity, and gates open (alpha 0.5 / -0.8) so the
    fusers change the U-Net's output."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in gligen_shapes(unet_cfg, key_dim, pooled_dim, prefix).items():
        if key.endswith("alpha_attn"):
            sd[key] = torch.tensor(0.5)
        elif key.endswith("alpha_dense"):
            sd[key] = torch.tensor(-0.8)
        elif "norm" in key and key.endswith("weight"):
            sd[key] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 2:
            sd[key] = torch.randn(shape, generator=gen) / shape[1] ** 0.5
        else:
            sd[key] = 0.1 * torch.randn(shape, generator=gen)
    return sd
