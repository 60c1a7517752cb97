"""Helpers for the fp8 and streaming tests: a tiny seeded FLUX transformer, its inputs, file writers."""
from __future__ import annotations

import torch

from core.models.weights import save_safetensors


def tiny_config(**overrides):
    from core.models.flux import FluxConfig

    base = dict(vec_in_dim=12, context_in_dim=32, hidden_size=64, num_heads=2, depth=2, depth_single_blocks=2,
                axes_dim=(4, 14, 14))
    base.update(overrides)
    return FluxConfig(**base)


def tiny_flux(config=None, seed: int = 1) -> torch.nn.Module:
    """A FLUX transformer with seeded weights (uniform, variance 1/fan_in), float32, eval mode."""
    from core.models.building import on_meta
    from core.models.flux import Flux
    from core.models.tiny import fill_random

    config = config or tiny_config()
    return fill_random(on_meta(lambda: Flux(config)), seed=seed)


def inputs(config=None, seed: int = 0) -> tuple:
    """(x, timesteps, context, y) for one denoiser call of a tiny FLUX [dev]."""
    config = config or tiny_config()
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, config.latent_channels, 8, 8, generator=g), torch.tensor([0.6]),
            torch.randn(1, 5, config.context_in_dim, generator=g), torch.randn(1, config.vec_in_dim + 1, generator=g))


def layer_weight_keys(module: torch.nn.Module) -> list:
    """State-dict keys of the Linear/Conv weights (what fp8 storage quantizes)."""
    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    return [f"{name}.weight" for name, m in module.named_modules() if isinstance(m, kinds)]


def write(sd: dict, path):
    return save_safetensors(sd, path)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().mean() / want.abs().mean())
