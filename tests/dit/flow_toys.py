"""Test stand-ins for flow models: a network whose velocity is the exact one of Gaussian data, and tiny
seeded FLUX transformers in BFL's key layout."""
from __future__ import annotations

import torch

from core.models.detection import ModelConfig
from core.models.handles import ModelHandle
from core.models.latent_formats import LatentFormat

IDENTITY_16 = LatentFormat(name="test16", scale_factor=1.0, latent_channels=16)


class GaussianVelocity(torch.nn.Module):
    """The ideal velocity for data x0 ~ N(mean, std^2) per element under x_t = (1 - t) x0 + t n.

    x_t ~ N((1 - t) m, (1 - t)^2 s^2 + t^2), so E[x0 | x_t] = m + (1 - t) s^2 (x_t - (1 - t) m) / var_t
    and the velocity is (x_t - E[x0 | x_t]) / t. ``multiplier`` converts the network's timestep to t.
    """

    def __init__(self, mean: float, std: float, multiplier: float = 1000.0):
        super().__init__()
        self.mean, self.std, self.multiplier = mean, std, multiplier
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # handles read dtype from a weight
        self.timesteps_seen: list = []

    def forward(self, x, timesteps, context, y=None, control=None):
        self.timesteps_seen.append(timesteps.clone())
        t = (timesteps / self.multiplier).reshape(-1, 1, 1, 1).to(x)
        var = (1 - t) ** 2 * self.std ** 2 + t ** 2
        x0 = self.mean + (1 - t) * self.std ** 2 * (x - (1 - t) * self.mean) / var
        return (x - x0) / t


class ZeroVelocity(torch.nn.Module):
    """Predicts v = 0, so D(x) = x: every sampler returns its start point unchanged."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x, timesteps, context, y=None, control=None):
        return torch.zeros_like(x)


def flow_handle(net: torch.nn.Module, sampling) -> ModelHandle:
    cfg = ModelConfig(family="sd3", prediction="flow", unet=None, in_channels=16)
    handle = ModelHandle(net, cfg, IDENTITY_16, name="toy-flow")
    handle.model_sampling = sampling
    return handle


def empty_conditioning(tokens: int = 2, width: int = 8):
    return [[torch.zeros(1, tokens, width), {}]]


def tiny_flux_config(guidance: bool = True, **overrides):
    from core.models.flux import FluxConfig

    base = dict(in_channels=64, out_channels=64, vec_in_dim=12, context_in_dim=20, hidden_size=64, num_heads=2,
                depth=2, depth_single_blocks=2, axes_dim=(4, 14, 14), guidance_embed=guidance)
    base.update(overrides)
    return FluxConfig(**base)


def tiny_flux(config, seed: int = 0, std: float = 0.1):
    """A Flux module with seeded random weights (the default init leaves the gates at a scale where
    equivalence tests would compare near-zero outputs)."""
    from core.models.flux import Flux

    torch.manual_seed(seed)
    model = Flux(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model.eval()
