"""The one place where a U-Net's eps or v output becomes a denoised estimate D(x; sigma).

Samplers see a k-diffusion style ``model(x, sigma) -> denoised`` over the variance-exploding
latent x = x0 + sigma * n. The network was trained on the variance-preserving input
x / sqrt(sigma^2 + 1) and a nearest integer timestep, so the preconditioning is (Karras et al. 2022,
Table 1, "VP" column and sigma_data = 1 for v-prediction, Salimans & Ho 2022 eq. 6):

    eps:  D = x - sigma * F(c_in x, t)
    v:    D = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * F(c_in x, t)
    with  c_in = 1 / sqrt(sigma^2 + 1)

Flow models (core/sampling/model_sampling.py) see x itself and the continuous timestep of their model
sampling, and predict a velocity: D = x - sigma * F(x, t).
"""
from __future__ import annotations

import torch

from core.sampling.schedule import DiscreteSchedule


class Denoiser:
    """Wraps ``unet(x, timesteps, context, y=None, control=None)`` into D(x; sigma)."""

    def __init__(self, unet, schedule: DiscreteSchedule, dtype: torch.dtype = torch.float32):
        self.unet = unet
        self.schedule = schedule
        self.prediction = schedule.prediction
        self.dtype = dtype
        self._log_sigmas = {}  # device -> log-sigma table, so timestep lookup never leaves the device

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        table = self._log_sigmas.get(sigma.device)
        if table is None:
            table = self._log_sigmas[sigma.device] = self.schedule.log_sigmas.to(sigma.device)
        return (sigma.float().log()[None, :] - table[:, None]).abs().argmin(dim=0).float()

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, context: torch.Tensor, y=None,
                 control=None, concat=None, transformer_options=None) -> torch.Tensor:
        """``transformer_options`` (skip-layer guidance) reaches the network only when given: U-Nets
        take no such argument."""
        s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        if self.prediction == "flow":
            return self._flow(x, sigma, s, context, y, control, concat, transformer_options)
        x_in = x / (s * s + 1).sqrt()
        if concat is not None:  # inpainting U-Nets: [noisy latent, mask, masked-image latent]
            x_in = torch.cat([x_in, concat.to(x_in)], dim=1)
        dt = self.dtype
        out = self.unet(x_in.to(dt), self.timestep(sigma), context.to(dt),
                        y=None if y is None else y.to(dt), control=control).float()
        if self.prediction == "v":
            return x / (s * s + 1) - out * s / (s * s + 1).sqrt()
        return x - out * s

    def _flow(self, x, sigma, s, context, y, control, concat, transformer_options=None):
        x_in = x if concat is None else torch.cat([x, concat.to(x)], dim=1)
        dt = self.dtype
        t = self.schedule.timestep(sigma.float()).to(x.device)
        extra = {"transformer_options": transformer_options} if transformer_options else {}
        out = self.unet(x_in.to(dt), t, context.to(dt), y=None if y is None else y.to(dt),
                        control=control, **extra).float()
        return x - out * s
