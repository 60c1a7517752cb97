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
def euler_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, model_sampling=None):
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
def dpm_2_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, model_sampling=None):
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
def dpmpp_2s_ancestral_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, model_sampling=None):
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


# --- DPM-Solver++ SDE samplers in the flow half-log-SNR ------------------------------------------------
# On x = alpha x0 + sigma n with alpha = 1 - sigma, DPM-Solver++ (Lu et al. 2022) is written in
# lambda = log(alpha / sigma); the data-prediction step from s to t with SDE noise fraction eta is
# x_t = (sigma_t / sigma_s) e^(-eta h) x_s + alpha_t (1 - e^(-(1 + eta) h)) D + sigma_t sqrt(1 - e^(-2 eta h)) n,
# the VE versions (core/sampling/samplers_dpmpp.py) being the case alpha = 1, lambda = -log sigma. Pure noise (sigma = 1) has
# lambda = -inf, so a first sigma of 1 is moved to the model's sigma at 0.01% of the run, as ComfyUI does.


def _lam_flow(sigma: float) -> float:
    return math.log((1 - sigma) / sigma)


def _sigma_flow(lam: float) -> float:
    return 1 / (1 + math.exp(lam))


def _offset_first_sigma(sigmas: torch.Tensor, model_sampling) -> list:
    sig = sigmas.tolist()
    if len(sig) > 1 and sig[0] >= 1 and model_sampling is not None:
        sig[0] = float(model_sampling.percent_to_sigma(1e-4))
    return sig


@torch.no_grad()
def dpmpp_sde_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, r: float = 0.5,
                 model_sampling=None):
    """Stochastic DPM-Solver++ with a midpoint at lambda + r h, each sub-step ancestral in lambda."""
    from core.sampling.samplers_basic import ancestral_step

    s_in = x.new_ones([x.shape[0]])
    sig = _offset_first_sigma(sigmas, model_sampling)
    fac = 1 / (2 * r)
    for i in range(len(sig) - 1):
        denoised = model(x, sig[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            continue
        lam_s, lam_t = _lam_flow(sig[i]), _lam_flow(sig[i + 1])
        h = lam_t - lam_s
        lam_s1 = lam_s + r * h
        sigma_s1 = _sigma_flow(lam_s1)
        alpha_s, alpha_s1, alpha_t = 1 - sig[i], 1 - sigma_s1, 1 - sig[i + 1]
        down, up = ancestral_step(math.exp(-lam_s), math.exp(-lam_s1), eta)
        h_ = -math.log(down) - lam_s
        x_2 = (alpha_s1 / alpha_s) * math.exp(-h_) * x - alpha_s1 * math.expm1(-h_) * denoised
        if eta > 0:
            x_2 = x_2 + alpha_s1 * noise_sampler(sig[i], sigma_s1) * up
        denoised_2 = model(x_2, sigma_s1 * s_in)
        down, up = ancestral_step(math.exp(-lam_s), math.exp(-lam_t), eta)
        h_ = -math.log(down) - lam_s
        d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * math.exp(-h_) * x - alpha_t * math.expm1(-h_) * d
        if eta > 0:
            x = x + alpha_t * noise_sampler(sig[i], sig[i + 1]) * up
    return x


@torch.no_grad()
def dpmpp_2m_sde_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, model_sampling=None):
    """SDE-DPM-Solver++(2M), midpoint variant, in the flow lambda."""
    s_in = x.new_ones([x.shape[0]])
    sig = _offset_first_sigma(sigmas, model_sampling)
    old_denoised, h_last = None, None
    for i in range(len(sig) - 1):
        denoised = model(x, sig[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        h = None
        if sig[i + 1] == 0:
            x = denoised
        else:
            h = _lam_flow(sig[i + 1]) - _lam_flow(sig[i])
            h_eta = h * (eta + 1)
            alpha_t = 1 - sig[i + 1]
            decay = -math.expm1(-h_eta)
            x = (sig[i + 1] / sig[i]) * math.exp(-h * eta) * x + alpha_t * decay * denoised
            if old_denoised is not None:
                x = x + 0.5 * alpha_t * decay * (h / h_last) * (denoised - old_denoised)
            if eta > 0:
                x = x + noise_sampler(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)))
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def dpmpp_3m_sde_rf(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, model_sampling=None):
    """Third-order multistep SDE DPM-Solver++ in the flow lambda."""
    s_in = x.new_ones([x.shape[0]])
    sig = _offset_first_sigma(sigmas, model_sampling)
    d_1 = d_2 = h_1 = h_2 = None
    for i in range(len(sig) - 1):
        denoised = model(x, sig[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        h = None
        if sig[i + 1] == 0:
            x = denoised
        else:
            h = _lam_flow(sig[i + 1]) - _lam_flow(sig[i])
            h_eta = h * (eta + 1)
            alpha_t = 1 - sig[i + 1]
            x = (sig[i + 1] / sig[i]) * math.exp(-h * eta) * x - alpha_t * math.expm1(-h_eta) * denoised
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0, d1_1 = (denoised - d_1) / r0, (d_1 - d_2) / r1
                first = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                second = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + alpha_t * phi_2 * first - alpha_t * phi_3 * second
            elif h_1 is not None:
                x = x + alpha_t * phi_2 * (denoised - d_1) / (h_1 / h)
            if eta > 0:
                x = x + noise_sampler(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)))
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
    return x
