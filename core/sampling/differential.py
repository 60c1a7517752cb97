"""Differential diffusion (Levin & Fried 2023, "Differential Diffusion: Giving Each Pixel Its Strength").

A soft inpainting mask becomes a per-step binary mask: at each step the pixels whose mask value is at
least the fraction of the run still ahead are denoised, the others stay on the original latent's noise
path. Early (high sigma) only mask values near 1 are repainted; by the end every pixel with a nonzero
value is. The fraction is measured in the model's training timesteps between the first sigma and the
last (never below the schedule's smallest sigma), as ComfyUI's node does; ``strength`` < 1 blends the
binary mask back toward the soft one.

The function has ComfyUI's ``denoise_mask_function`` signature, ``fn(sigma, denoise_mask, extra_options)``
with ``extra_options = {"model": object with .inner_model.model_sampling, "sigmas": the run's sigmas}``,
so a MODEL patched here and one patched by a plugin go through the same hook (core/sampling/sample.py).
"""
from __future__ import annotations

import torch


def threshold(sigma: float, sigmas: torch.Tensor, model_sampling) -> float:
    """The mask level from which pixels are denoised at ``sigma``: 1 at the first sigma, 0 at the last."""
    sigma_to = max(float(model_sampling.sigma_min), float(sigmas[-1]))
    sigma_from = float(sigmas[0])

    def ts(s: float) -> float:
        return float(model_sampling.timestep(torch.tensor([s], dtype=torch.float32))[0])

    ts_from, ts_to, now = ts(sigma_from), ts(sigma_to), ts(float(sigma))
    if ts_from == ts_to:  # a one-timestep run: nothing left to stage, denoise every masked pixel
        return 0.0
    return (now - ts_to) / (ts_from - ts_to)


def differential_mask(sigma, denoise_mask: torch.Tensor, sigmas: torch.Tensor, model_sampling,
                      strength: float = 1.0) -> torch.Tensor:
    """The denoise mask used at ``sigma``: ``denoise_mask >= threshold``, blended with the soft mask by
    ``1 - strength`` when strength is below 1."""
    level = threshold(float(torch.as_tensor(sigma).reshape(-1)[0]), sigmas, model_sampling)
    binary = (denoise_mask >= level).to(denoise_mask.dtype)
    if strength and strength < 1:
        return strength * binary + (1 - strength) * denoise_mask
    return binary


class DifferentialMask:
    """``model_options["denoise_mask_function"]`` of the DifferentialDiffusion node."""

    def __init__(self, strength: float = 1.0):
        self.strength = float(strength)

    def __call__(self, sigma, denoise_mask, extra_options):
        sampling = extra_options["model"].inner_model.model_sampling
        return differential_mask(sigma, denoise_mask, extra_options["sigmas"], sampling, self.strength)
