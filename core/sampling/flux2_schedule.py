"""FLUX.2's resolution- and step-dependent sigma schedule (BFL's flux2 sampling.get_schedule; diffusers'
Flux2Pipeline: compute_empirical_mu + FlowMatchEulerDiscreteScheduler with exponential dynamic shifting).

mu is a fit, linear in the number of image tokens, measured by BFL at 10 and 200 steps and interpolated
linearly in the step count between them; past 4300 tokens the 200-step line is used for every step count.
The sigmas are t = 1 .. 0 in ``steps`` equal steps, each shifted in logit space by mu:
sigma = e^mu / (e^mu + (1/t - 1)) (the FLUX.1 shift of core/sampling/model_sampling.py), ending at exactly 0.
"""
from __future__ import annotations

import math

import torch

# BFL's fit: mu = a * tokens + b at 10 steps (A10, B10) and at 200 steps (A200, B200)
A10, B10 = 8.73809524e-05, 1.89833333
A200, B200 = 0.00016927, 0.45666666
LARGE_IMAGE_TOKENS = 4300


def empirical_mu(image_tokens: int, steps: int) -> float:
    """The shift mu for an image of ``image_tokens`` 16x16-pixel tokens sampled in ``steps`` steps."""
    mu_200 = A200 * image_tokens + B200
    if image_tokens > LARGE_IMAGE_TOKENS:
        return float(mu_200)
    mu_10 = A10 * image_tokens + B10
    slope = (mu_200 - mu_10) / 190.0  # per step, between the fits at 10 and 200 steps
    return float(mu_200 + slope * (steps - 200))


def flux2_sigmas(steps: int, width: int, height: int) -> torch.Tensor:
    """``steps + 1`` sigmas from 1 to 0 for a ``width`` x ``height`` pixel image (16 pixels per token side)."""
    if steps < 1:
        raise ValueError(f"FLUX.2 schedule: steps must be at least 1, got {steps}")
    tokens = round(width * height / (16 * 16))
    mu = empirical_mu(tokens, steps)
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    sigmas = torch.zeros_like(t)
    inner = t > 0
    sigmas[inner] = math.exp(mu) / (math.exp(mu) + (1.0 / t[inner] - 1.0))
    return sigmas.float()
