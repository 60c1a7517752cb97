"""DPM-Solver++ samplers (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling"), data prediction.

Written in lambda = -log(sigma) (the half log-SNR of the VE latent), where one exact exponential-
integrator step with a constant denoised estimate reads x_next = (sigma_next / sigma) x - expm1(-h) D,
h = lambda_next - lambda (DPM-Solver++ eq. 9, first order). Higher orders add finite differences of D.
"""
from __future__ import annotations

import math

import torch

from core.sampling.samplers_basic import _report, ancestral_step, to_d


def _lam(sigma: float) -> float:
    return -math.log(sigma)


@torch.no_grad()
def dpmpp_2m(model, x, sigmas, callback=None, noise_sampler=None):
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): second order from the previous step's D."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    old_denoised, h_last = None, None
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:  # lambda = inf: the exact step is D itself
            x = denoised
            continue
        h = _lam(sig[i + 1]) - _lam(sig[i])
        d = denoised
        if old_denoised is not None:
            r = h_last / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (sig[i + 1] / sig[i]) * x - math.expm1(-h) * d
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def dpmpp_2s_ancestral(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """DPM-Solver++(2S), single-step midpoint (r = 1/2), to sigma_down, then ancestral noise sigma_up."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        if down == 0:
            x = x + to_d(x, sig[i], denoised) * (down - sig[i])
        else:
            h = _lam(down) - _lam(sig[i])
            sigma_s = sig[i] * math.exp(-h / 2)
            x_2 = (sigma_s / sig[i]) * x - math.expm1(-h / 2) * denoised
            denoised_2 = model(x_2, s_in * sigma_s)
            x = (down / sig[i]) * x - math.expm1(-h) * denoised_2
        if sig[i + 1] > 0 and up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * up
    return x


@torch.no_grad()
def dpmpp_sde(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, r: float = 0.5):
    """Stochastic DPM-Solver++ with a midpoint at lambda + r h: each of the two sub-steps is an
    ancestral DPM-Solver++ step (deterministic to sigma_down, then fresh noise), the second using the
    (1 - 1/2r, 1/2r) combination of both denoised estimates (DPM-Solver++ eq. 12 style 2nd order)."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    fac = 1 / (2 * r)
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = x + to_d(x, sig[i], denoised) * (0 - sig[i])
            continue
        h = _lam(sig[i + 1]) - _lam(sig[i])
        sigma_s = sig[i] * math.exp(-r * h)
        down, up = ancestral_step(sig[i], sigma_s, eta)
        x_2 = (down / sig[i]) * x - math.expm1(_lam(sig[i]) - _lam(down)) * denoised
        if up > 0:
            x_2 = x_2 + noise_sampler(sig[i], sigma_s) * up
        denoised_2 = model(x_2, s_in * sigma_s)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        d = (1 - fac) * denoised + fac * denoised_2
        x = (down / sig[i]) * x - math.expm1(_lam(sig[i]) - _lam(down)) * d
        if up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * up
    return x


@torch.no_grad()
def dpmpp_2m_sde(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, appendix: the data-prediction SDE solver), midpoint variant."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    old_denoised, h_last = None, None
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            continue
        h = _lam(sig[i + 1]) - _lam(sig[i])
        eta_h = eta * h
        decay = -math.expm1(-h - eta_h)
        x = (sig[i + 1] / sig[i]) * math.exp(-eta_h) * x + decay * denoised
        if old_denoised is not None:
            r = h_last / h
            x = x + 0.5 * decay * (1 / r) * (denoised - old_denoised)
        if eta:
            x = x + noise_sampler(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * eta_h)))
        old_denoised, h_last = denoised, h
    return x


@torch.no_grad()
def dpmpp_3m_sde(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """Third-order multistep SDE DPM-Solver++: quadratic extrapolation of D in lambda, integrated
    exactly against the exponential kernel (phi_2, phi_3 functions; Lu et al. 2022, DPM-Solver-3 form)."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    d_1 = d_2 = h_1 = h_2 = None
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            continue
        h = _lam(sig[i + 1]) - _lam(sig[i])
        h_eta = h * (eta + 1)
        x = math.exp(-h_eta) * x - math.expm1(-h_eta) * denoised
        phi_2 = math.expm1(-h_eta) / h_eta + 1
        if h_2 is not None:
            r0, r1 = h_1 / h, h_2 / h
            d1_0 = (denoised - d_1) / r0
            d1_1 = (d_1 - d_2) / r1
            first = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            second = (d1_0 - d1_1) / (r0 + r1)
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * first - phi_3 * second
        elif h_1 is not None:
            x = x + phi_2 * (denoised - d_1) / (h_1 / h)
        if eta:
            x = x + noise_sampler(sig[i], sig[i + 1]) * (sig[i + 1] * math.sqrt(-math.expm1(-2 * h * eta)))
        d_1, d_2 = denoised, d_1
        h_1, h_2 = h, h_1
    return x
