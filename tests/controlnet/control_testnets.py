"""Seeded tiny control networks in their released layouts, and inputs sized for the tiny SD1.5 U-Net."""
import math

import torch


def tiny_controlnet_state_dict(seed: int = 0) -> dict:
    """A seeded ControlNet for the tiny SD1.5 U-Net of core.models.tiny, in the released key layout."""
    from core.models.controlnet import ControlNet
    from core.models.tiny import tiny_unet_config

    with torch.device("meta"):
        shapes = ControlNet(tiny_unet_config("sd15")).state_dict()
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in shapes.items():
        if v.ndim >= 2:
            sd[k] = torch.randn(v.shape, generator=gen) / math.sqrt(math.prod(v.shape[1:]))
        elif "norm" in k or "in_layers.0" in k or "out_layers.0" in k:
            sd[k] = (1.0 if k.endswith("weight") else 0.0) + 0.05 * torch.randn(v.shape, generator=gen)
        else:
            sd[k] = 0.02 * torch.randn(v.shape, generator=gen)
    return {"control_model." + k: t for k, t in sd.items()}


CHANNELS = (32, 64, 64, 64)  # the tiny U-Net's levels are 32 and 64 wide; later levels go unused


def _randn(gen, *shape):
    return torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))


def full_adapter_sd(seed=0, hint_channels=3, per_level=2, prefix="adapter."):
    """Full layout: conv_in on the 8× unshuffled hint, then per_level blocks per level (block1 3×3, block2 1×1)."""
    gen = torch.Generator().manual_seed(seed)
    sd = {"conv_in.weight": _randn(gen, CHANNELS[0], hint_channels * 64, 3, 3), "conv_in.bias": torch.zeros(CHANNELS[0])}
    n = 0
    for level, ch in enumerate(CHANNELS):
        for j in range(per_level):
            p = f"body.{n}."
            if j == 0 and level > 0 and CHANNELS[level - 1] != ch:
                sd[p + "in_conv.weight"] = _randn(gen, ch, CHANNELS[level - 1], 1, 1)
                sd[p + "in_conv.bias"] = torch.zeros(ch)
            sd[p + "block1.weight"], sd[p + "block1.bias"] = _randn(gen, ch, ch, 3, 3), 0.1 * torch.ones(ch)
            sd[p + "block2.weight"], sd[p + "block2.bias"] = _randn(gen, ch, ch, 1, 1), torch.zeros(ch)
            n += 1
    return {prefix + k: v for k, v in sd.items()}


def light_adapter_sd(seed=0, blocks=2):
    gen = torch.Generator().manual_seed(seed)
    sd, cin = {}, 3 * 64
    for level, ch in enumerate(CHANNELS):
        inner, p = ch // 4, f"body.{level}."
        sd[p + "in_conv.weight"], sd[p + "in_conv.bias"] = _randn(gen, inner, cin, 1, 1), torch.zeros(inner)
        for j in range(blocks):
            for conv in ("block1", "block2"):
                sd[f"{p}body.{j}.{conv}.weight"] = _randn(gen, inner, inner, 3, 3)
                sd[f"{p}body.{j}.{conv}.bias"] = torch.zeros(inner)
        sd[p + "out_conv.weight"], sd[p + "out_conv.bias"] = _randn(gen, ch, inner, 1, 1), torch.zeros(ch)
        cin = ch
    return sd


def control_inputs(batch=2, hw=8, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 4, hw, hw, generator=gen)
    sigma = torch.full((batch,), 3.0)
    context = torch.randn(batch, 77, 32, generator=gen)
    hint = torch.rand(1, hw * 8, hw * 8, 3, generator=gen)
    return x, sigma, context, hint


def unet_out(unet, x, sigma, context, control):
    from core.sampling.schedule import DiscreteSchedule

    t = DiscreteSchedule().timestep(sigma)
    with torch.no_grad():
        return unet(x / (sigma[:, None, None, None] ** 2 + 1).sqrt(), t, context, control=control)
