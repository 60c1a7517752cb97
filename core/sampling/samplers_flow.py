"""Ancestral samplers for flow (rectified-flow) models, where x = (1 - sigma) x0 + sigma n.

The VE ancestral step (sigma_down^2 + sigma_up^2 = sigma_next^2) assumes x = x0 + sigma n; on the
straight path the signal is shrunk by alpha = 1 - sigma as well, so the step is taken differently:
deterministically down to sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta), then the
sample is rescaled by alpha_next / alpha_down and fresh noise of variance
sigma_next^2 - (sigma_down * alpha_next / alpha_down)^2 is added, which puts x exactly on the marginal
at sigma_next (the noise level of (alpha_next / alpha_down) x_down is sigma_down * alpha_next / alpha_down).
These are the steps ComfyUI takes for its CONST models (its ``*_RF`` k-diffusion variants).
"""
from __future__ import annotations

import math

import torch

from core.sampling.samplers_basic import _report, to_d


def rf_ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0):
    """(sigma_down, alpha_next / alpha_down, renoise std) of one ancestral step on the straight path."""
    sigma_down = sigma_next * (1 + (sigma_next / sigma - 1) * eta)
    alpha_next, alpha_down = 1 - sigma_next, 1 - sigma_down
    renoise = math.sqrt(max(sigma_next ** 2 - sigma_down ** 2 * alpha_next ** 2 / alpha_down ** 2, 0.0))
    return sigma_down, alpha_next / alpha_down, renoise


@torch.no_grad()
def euler_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """Euler down to sigma_down (a straight interpolation toward D), then renoise to sigma_next."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            continue
        down, ratio, renoise = rf_ancestral_step(sig[i], sig[i + 1], eta)
        # Euler on dx/dsigma = (x - D) / sigma is linear interpolation between D (sigma 0) and x (sigma)
        x = (down / sig[i]) * x + (1 - down / sig[i]) * denoised
        if eta > 0:
            x = ratio * x + noise_sampler(sig[i], sig[i + 1]) * renoise
    return x


@torch.no_grad()
def dpm_2_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """DPM-Solver-2 (midpoint in log sigma) down to sigma_down, then the straight-path renoise."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, ratio, renoise = rf_ancestral_step(sig[i], sig[i + 1], eta)
        d = to_d(x, sig[i], denoised)
        if down == 0:
            x = x + d * (down - sig[i])
            continue
        mid = math.exp((math.log(sig[i]) + math.log(down)) / 2)
        x_2 = x + d * (mid - sig[i])
        d_2 = to_d(x_2, mid, model(x_2, mid * s_in))
        x = x + d_2 * (down - sig[i])
        x = ratio * x + noise_sampler(sig[i], sig[i + 1]) * renoise
    return x


@torch.no_grad()
def dpmpp_2s_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """DPM-Solver++(2S) in the flow half-log-SNR lambda = log((1 - sigma) / sigma), midpoint r = 1/2."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, ratio, renoise = rf_ancestral_step(sig[i], sig[i + 1], eta)
        if sig[i + 1] == 0:
            x = x + to_d(x, sig[i], denoised) * (down - sig[i])
            continue
        if sig[i] >= 1.0:  # lambda = -inf at pure noise: step the midpoint from just below it
            sigma_s = 0.9999
        else:
            lam_i, lam_down = math.log((1 - sig[i]) / sig[i]), math.log((1 - down) / down)
            sigma_s = 1 / (math.exp(lam_i + (lam_down - lam_i) / 2) + 1)
        u = (sigma_s / sig[i]) * x + (1 - sigma_s / sig[i]) * denoised
        denoised_2 = model(u, sigma_s * s_in)
        x = (down / sig[i]) * x + (1 - down / sig[i]) * denoised_2
        if eta > 0:
            x = ratio * x + noise_sampler(sig[i], sig[i + 1]) * renoise
    return x
