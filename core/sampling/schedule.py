"""The discrete SD noise schedule and the sigma <-> timestep maps samplers need.

Stable Diffusion 1.x/2.x/XL were trained with 1000 DDPM steps and "scaled linear" betas
(sqrt(beta) linear from sqrt(0.00085) to sqrt(0.012)). Samplers work in the variance-exploding
parametrisation of Karras et al. 2022 (x = x0 + sigma * eps), where sigma_t = sqrt((1 - abar_t) / abar_t)
(Karras et al. 2022, appendix C.3.1 / Song et al. 2021, eq. 9 with x_VE = x_VP / sqrt(abar)).
"""
from __future__ import annotations

import math

import torch

NUM_TRAIN_TIMESTEPS = 1000
LINEAR_START = 0.00085
LINEAR_END = 0.012


def scaled_linear_betas(n: int = NUM_TRAIN_TIMESTEPS, start: float = LINEAR_START,
                        end: float = LINEAR_END) -> torch.Tensor:
    # computed in float64 so sigmas match diffusers/ComfyUI to the last float32 bit
    return torch.linspace(start ** 0.5, end ** 0.5, n, dtype=torch.float64) ** 2


class DiscreteSchedule:
    """sigmas[t] for t = 0..999, and the nearest-timestep / log-interpolated inverse maps."""

    def __init__(self, betas: torch.Tensor | None = None, prediction: str = "eps"):
        if prediction not in ("eps", "v"):
            raise ValueError(f"unknown prediction type {prediction!r} (expected 'eps' or 'v')")
        betas = scaled_linear_betas() if betas is None else betas.to(torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.prediction = prediction
        self.alphas_cumprod = alphas_cumprod.float()
        self.sigmas = ((1 - alphas_cumprod) / alphas_cumprod).sqrt().float()  # [1000], increasing
        self.log_sigmas = self.sigmas.log()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def __len__(self) -> int:
        return len(self.sigmas)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """Nearest integer training timestep for each sigma (what the U-Net is conditioned on)."""
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        log_sigma = sigma.log().reshape(-1)
        dists = (log_sigma[None, :] - self.log_sigmas.to(log_sigma.device)[:, None]).abs()
        return dists.argmin(dim=0).reshape(sigma.shape).float()

    def sigma(self, timestep) -> torch.Tensor:
        """sigma at a possibly fractional timestep, interpolating log-sigma linearly between steps."""
        t = torch.as_tensor(timestep, dtype=torch.float32).clamp(0, len(self.sigmas) - 1)
        low = t.floor().long()
        high = t.ceil().long()
        w = t - low
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp()

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the way through sampling (0 = start/noisiest, 1 = end)."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * (len(self.sigmas) - 1))))

    def is_max_sigma(self, sigma: float) -> bool:
        return math.isclose(float(sigma), self.sigma_max, rel_tol=1e-5) or float(sigma) > self.sigma_max

    def noise_scaling(self, sigma, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool = False):
        """The sampler's start point: at the largest sigma the VP prior N(0, 1 + sigma^2) in VE scale."""
        if max_denoise:
            return latent + noise * math.sqrt(1.0 + float(sigma) ** 2)
        if isinstance(sigma, torch.Tensor):  # per-item sigmas stay on the device (no sync per step)
            sigma = sigma.reshape(-1, *([1] * (noise.ndim - 1))).to(noise)
        return latent + noise * sigma

    def inverse_noise_scaling(self, sigma, latent: torch.Tensor) -> torch.Tensor:
        return latent
