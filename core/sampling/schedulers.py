"""Sigma schedules under ComfyUI's scheduler names. Each returns a 1-D float32 tensor ending in 0."""
from __future__ import annotations

import math

import torch

from core.sampling import names
from core.sampling.schedule import DiscreteSchedule


def _append_zero(sigmas) -> torch.Tensor:
    sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Karras et al. 2022, eq. 5: uniform steps in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho)


def exponential(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Uniform steps in log-sigma (uniform in the DPM-Solver half-log-SNR lambda)."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64).exp())


def normal(schedule: DiscreteSchedule, n: int, sgm: bool = False) -> torch.Tensor:
    """Timesteps evenly spaced from the last training step to the first, log-sigma interpolated.

    ``sgm`` (sgm_uniform) spaces n+1 points and drops the last, as Stability's sgm code does.
    """
    start = float(schedule.timestep(torch.tensor(schedule.sigma_max)))
    end = float(schedule.timestep(torch.tensor(schedule.sigma_min)))
    if sgm:
        timesteps = torch.linspace(start, end, n + 1)[:-1]
    else:
        timesteps = torch.linspace(start, end, n)
    return _append_zero(schedule.sigma(timesteps))


def simple(schedule: DiscreteSchedule, n: int) -> torch.Tensor:
    """Every (1000/n)-th training sigma counted down from the largest."""
    stride = len(schedule) / n
    return _append_zero([float(schedule.sigmas[-(1 + int(i * stride))]) for i in range(n)])


def ddim_uniform(schedule: DiscreteSchedule, n: int) -> torch.Tensor:
    """DDIM's "leading" spacing (Song et al. 2021 with offset 1): t = 1, 1+k, 1+2k, ... below 1000."""
    stride = max(len(schedule) // n, 1)
    ts = list(range(1, len(schedule), stride))
    return _append_zero([float(schedule.sigmas[t]) for t in reversed(ts)])


def beta(schedule: DiscreteSchedule, n: int, alpha: float = 0.6, beta_: float = 0.6) -> torch.Tensor:
    """Lee et al. 2024, "Beta sampling is all you need": timesteps at Beta(0.6, 0.6) quantiles."""
    import numpy as np
    from scipy.stats import beta as beta_dist

    total = len(schedule) - 1
    quantiles = 1 - np.linspace(0, 1, n, endpoint=False)
    ts = np.rint(beta_dist.ppf(quantiles, alpha, beta_) * total)
    sigmas, last = [], None
    for t in ts:  # repeated timesteps collapse into one step
        if t != last:
            sigmas.append(float(schedule.sigmas[int(t)]))
        last = t
    return _append_zero(sigmas)


def linear_quadratic(sigma_max: float, n: int, threshold_noise: float = 0.025, linear_steps: int | None = None) -> torch.Tensor:
    """Genmo's Mochi schedule: noise falls linearly by ``threshold_noise`` over the first half of the
    steps, then along the quadratic that continues that line with the same slope and reaches 0 at the
    end. In units of the model's sigma_max (1 for flow models); no zero is appended: the last is 0."""
    if n == 1:
        return torch.tensor([sigma_max, 0.0], dtype=torch.float32)
    lin = n // 2 if linear_steps is None else linear_steps
    quad = n - lin
    # q(i) = a i² + b i + c through q(lin) = threshold with slope threshold / lin, and q(n) = 1
    a = (lin - threshold_noise * n) / (lin * quad ** 2)
    b = threshold_noise / lin - 2 * (lin - threshold_noise * n) / quad ** 2
    c = a * lin ** 2
    done = [i * threshold_noise / lin for i in range(lin)] + [a * i * i + b * i + c for i in range(lin, n)] + [1.0]
    return torch.tensor([1.0 - v for v in done], dtype=torch.float32) * float(sigma_max)


def kl_optimal(n: int, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """Sabour et al. 2024 (Align Your Steps, eq. 12): uniform in arctan(sigma)."""
    w = torch.linspace(0, 1, n, dtype=torch.float64)
    return _append_zero(torch.tan(w * math.atan(sigma_min) + (1 - w) * math.atan(sigma_max)))


SCHEDULER_NAMES = names.SCHEDULER_NAMES


def calculate_sigmas(schedule: DiscreteSchedule, name: str, steps: int) -> torch.Tensor:
    if name == "karras":
        return karras(steps, schedule.sigma_min, schedule.sigma_max)
    if name == "exponential":
        return exponential(steps, schedule.sigma_min, schedule.sigma_max)
    if name == "kl_optimal":
        return kl_optimal(steps, schedule.sigma_min, schedule.sigma_max)
    if name == "normal":
        return normal(schedule, steps)
    if name == "sgm_uniform":
        return normal(schedule, steps, sgm=True)
    if name == "simple":
        return simple(schedule, steps)
    if name == "ddim_uniform":
        return ddim_uniform(schedule, steps)
    if name == "beta":
        return beta(schedule, steps)
    if name == "beta57":
        return beta(schedule, steps, 0.5, 0.7)
    if name == "linear_quadratic":
        return linear_quadratic(schedule.sigma_max, steps)
    raise ValueError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULER_NAMES)}")


# Samplers whose second-order step needs one extra sigma: ComfyUI computes steps+1 and drops the
# penultimate so the final step lands on 0 with one fewer wasted model call.
DISCARD_PENULTIMATE = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})


def ksampler_sigmas(schedule: DiscreteSchedule, scheduler: str, sampler: str, steps: int,
                    denoise: float = 1.0) -> torch.Tensor:
    """The sigmas KSampler uses: denoise < 1 keeps the last steps+1 of int(steps/denoise)."""
    if denoise is None or denoise > 0.9999:
        total = steps
    else:
        if denoise <= 0.0:
            return torch.zeros(0)
        total = int(steps / denoise)
    discard = sampler in DISCARD_PENULTIMATE
    sigmas = calculate_sigmas(schedule, scheduler, total + 1 if discard else total)
    if discard:
        sigmas = torch.cat([sigmas[:-2], sigmas[-1:]])
    return sigmas[-(steps + 1):]


def sd_turbo_sigmas(schedule: DiscreteSchedule, steps: int, denoise: float = 1.0) -> torch.Tensor:
    """SDXL-Turbo's schedule: timesteps 999, 899, ... (every 100th), starting later when denoise < 1."""
    start = 10 - int(10 * denoise)
    timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start:start + steps]
    return _append_zero(schedule.sigma(timesteps.float()))
