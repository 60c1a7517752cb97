"""Model sampling for flow-matching models (SD3, AuraFlow, FLUX): sigma = t, velocity prediction.

Rectified flow (Liu et al. 2022; Esser et al. 2024, §2) trains on x_t = (1 - t) x0 + t n and a
network predicting the velocity v = n - x0. With sigma = t the denoised estimate is
x0 = x_t - sigma * v, and the probability-flow ODE dx/dsigma = (x - x0) / sigma = v is the one every
VE sampler already integrates, so the samplers are shared; only the start point (noise scaling),
the network input (no c_in) and the timestep the network sees differ from the discrete SD schedule.

Shift moves the schedule toward high noise for larger images (Esser et al. 2024, §5.3.2, eq. 23):
sigma = shift * t / (1 + (shift - 1) * t). FLUX.1 shifts in logit space instead with
sigma = e^mu / (e^mu + (1/t - 1)) and mu chosen from the image size (BFL's sampling.get_schedule).

The classes expose the interface of ``DiscreteSchedule`` that schedulers and samplers use
(``sigmas`` ascending, ``sigma_min``/``sigma_max``, ``timestep``, ``sigma``, ``percent_to_sigma``),
with the table and timestep conventions ComfyUI uses (``ModelSamplingDiscreteFlow`` with 1000 steps
and multiplier 1000 or 1; ``ModelSamplingFlux`` with 10000 steps and timestep = sigma), so every
scheduler gives ComfyUI's sigmas for the same settings.
"""
from __future__ import annotations

import math

import torch


def time_snr_shift(shift: float, t):
    """SD3's resolution shift (Esser et al. 2024, eq. 23); identity at shift 1."""
    if shift == 1.0:
        return t
    return shift * t / (1 + (shift - 1) * t)


def flux_time_shift(mu: float, t):
    """FLUX.1's logit-space shift: sigmoid(logit(t) + mu)."""
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1))


def flux_shift_for_size(width: int, height: int, base_shift: float = 0.5, max_shift: float = 1.15) -> float:
    """mu linear in the number of 2x2 latent patches: base_shift at 256 patches, max_shift at 4096
    (BFL's flux/sampling.py get_lin_function(x1=256, y1=0.5, x2=4096, y2=1.15))."""
    slope = (max_shift - base_shift) / (4096 - 256)
    return width * height / (8 * 8 * 2 * 2) * slope + (base_shift - slope * 256)


class _FlowSampling:
    """What flow (CONST) models share: x = sigma * noise + (1 - sigma) * x0, no input scaling."""

    prediction = "flow"
    sigma_data = 1.0

    @property
    def schedule(self):
        """What comfy.samplers.calculate_sigmas reads from a ``model_sampling`` object: this schedule."""
        return self

    def _table(self, steps: int) -> torch.Tensor:
        # float32 like ComfyUI's buffer, so table lookups (simple, beta, ddim_uniform) give its values
        return self.sigma((torch.arange(1, steps + 1, 1) / steps) * self.multiplier).float()

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    def __len__(self) -> int:
        return len(self.sigmas)

    @property
    def log_sigmas(self) -> torch.Tensor:
        return self.sigmas.log()

    def timestep(self, sigma) -> torch.Tensor:
        """What the network is conditioned on: sigma times the model's multiplier."""
        return torch.as_tensor(sigma, dtype=torch.float32) * self.multiplier

    def percent_to_sigma(self, percent: float) -> float:
        if percent <= 0.0:
            return 1.0
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * self.multiplier, dtype=torch.float64)))

    def is_max_sigma(self, sigma: float) -> bool:
        return math.isclose(float(sigma), self.sigma_max, rel_tol=1e-5) or float(sigma) > self.sigma_max

    def noise_scaling(self, sigma, noise: torch.Tensor, latent: torch.Tensor, max_denoise: bool = False):
        """The point on the straight path from the latent (sigma 0) to pure noise (sigma 1)."""
        s = _per_item(sigma, noise)
        return s * noise + (1.0 - s) * latent

    def inverse_noise_scaling(self, sigma, latent: torch.Tensor) -> torch.Tensor:
        """Undo the (1 - sigma) shrink of a partly denoised result (identity at sigma 0)."""
        return latent / (1.0 - _per_item(sigma, latent))

    def calculate_input(self, sigma, x: torch.Tensor) -> torch.Tensor:
        return x

    def calculate_denoised(self, sigma, velocity: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x - velocity * _per_item(sigma, velocity)


class FlowSchedule(_FlowSampling):
    """ComfyUI's ModelSamplingDiscreteFlow: SD3 (multiplier 1000) and AuraFlow (multiplier 1)."""

    def __init__(self, shift: float = 1.0, multiplier: float = 1000.0, steps: int = 1000):
        self.shift = float(shift)
        self.multiplier = float(multiplier)
        self.sigmas = self._table(steps)

    def sigma(self, timestep) -> torch.Tensor:
        return time_snr_shift(self.shift, torch.as_tensor(timestep) / self.multiplier)

    def __repr__(self) -> str:
        return f"FlowSchedule(shift={self.shift}, multiplier={self.multiplier})"


class FluxSchedule(_FlowSampling):
    """ComfyUI's ModelSamplingFlux: 10000 table entries, the network sees sigma itself."""

    multiplier = 1.0

    def __init__(self, shift: float = 1.15, steps: int = 10000):
        self.shift = float(shift)
        self.sigmas = self._table(steps)

    def sigma(self, timestep) -> torch.Tensor:
        t = torch.as_tensor(timestep)
        return math.exp(self.shift) / (math.exp(self.shift) + (1 / t - 1))

    def __repr__(self) -> str:
        return f"FluxSchedule(shift={self.shift})"


def _per_item(sigma, like: torch.Tensor):
    """A tensor sigma ([B] or scalar) broadcasts over each item's dimensions on its device (reading it
    back would sync the device every step); a Python number stays one."""
    if isinstance(sigma, torch.Tensor):
        return sigma.reshape(-1, *([1] * (like.ndim - 1))).to(like)
    return float(sigma)


def default_for_family(family: str):
    """The model sampling a freshly loaded flow model uses before any ModelSampling* node."""
    if family == "flux":
        return FluxSchedule(1.15)
    if family == "flux_schnell":  # ComfyUI's FluxSchnell: ModelSamplingDiscreteFlow, shift 1, multiplier 1
        return FlowSchedule(1.0, multiplier=1.0)
    if family == "sd3":
        return FlowSchedule(3.0)
    if family == "z_image":  # ComfyUI's ZImage: ModelSamplingDiscreteFlow, shift 3, multiplier 1 (AuraFlow-style)
        return FlowSchedule(3.0, multiplier=1.0)
    return None
