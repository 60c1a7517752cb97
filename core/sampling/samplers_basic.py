"""Single-step ODE/SDE samplers over D(x; sigma) in the variance-exploding form (Karras et al. 2022).

Every sampler is ``fn(model, x, sigmas, callback=None, noise_sampler=None) -> x``: ``model(x, sigma[B])``
returns the denoised estimate, ``sigmas`` is descending and ends in 0, ``noise_sampler(sigma, sigma_next)``
returns unit Gaussian noise shaped like x (ancestral/SDE samplers only). The CFG++ samplers
(samplers_cfgpp.py) take a model that returns the unconditional estimate too (core/sampling/samplers.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch


def to_d(x, sigma, denoised):
    """dx/dsigma of the probability-flow ODE: (x - D(x; sigma)) / sigma (Karras et al. 2022, eq. 4 with s=1)."""
    return (x - denoised) / sigma


def ancestral_step(sigma: float, sigma_next: float, eta: float = 1.0):
    """Split the step to sigma_next into a deterministic part down to sigma_down and fresh noise sigma_up,
    with sigma_down^2 + sigma_up^2 = sigma_next^2 (the DDPM posterior variance when eta = 1; Song et al. 2021, eq. 16)."""
    if not eta or sigma_next == 0:
        return sigma_next, 0.0
    sigma_up = min(sigma_next, eta * math.sqrt(sigma_next ** 2 * (sigma ** 2 - sigma_next ** 2) / sigma ** 2))
    return math.sqrt(sigma_next ** 2 - sigma_up ** 2), sigma_up


def _report(callback, i, x, sigma, denoised):
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})


@torch.no_grad()
def euler(model, x, sigmas, callback=None, noise_sampler=None):
    """Euler's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1 without churn)."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        x = x + to_d(x, sig[i], denoised) * (sig[i + 1] - sig[i])
    return x


@torch.no_grad()
def euler_ancestral(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    """Euler to sigma_down, then add sigma_up fresh noise (ancestral sampling)."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        x = x + to_d(x, sig[i], denoised) * (down - sig[i])
        if sig[i + 1] > 0 and up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * up
    return x


@torch.no_grad()
def heun(model, x, sigmas, callback=None, noise_sampler=None):
    """Heun's 2nd-order method (Karras et al. 2022, Algorithm 1); Euler for the last step to sigma = 0."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        d = to_d(x, sig[i], denoised)
        dt = sig[i + 1] - sig[i]
        if sig[i + 1] == 0:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        d_2 = to_d(x_2, sig[i + 1], model(x_2, sigmas[i + 1] * s_in))
        x = x + (d + d_2) * (dt / 2)
    return x


def _dpm2_step(model, x, d, sigma, sigma_to, s_in):
    """Midpoint method with the midpoint taken in log-sigma (Karras et al. 2022, appendix: DPM2)."""
    sigma_mid = math.exp(0.5 * (math.log(sigma) + math.log(sigma_to)))
    x_2 = x + d * (sigma_mid - sigma)
    d_2 = to_d(x_2, sigma_mid, model(x_2, s_in * sigma_mid))
    return x + d_2 * (sigma_to - sigma)


@torch.no_grad()
def dpm_2(model, x, sigmas, callback=None, noise_sampler=None):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        d = to_d(x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = x + d * (0 - sig[i])
        else:
            x = _dpm2_step(model, x, d, sig[i], sig[i + 1], s_in)
    return x


@torch.no_grad()
def dpm_2_ancestral(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        d = to_d(x, sig[i], denoised)
        if down == 0:
            x = x + d * (0 - sig[i])
        else:
            x = _dpm2_step(model, x, d, sig[i], down, s_in)
            x = x + noise_sampler(sig[i], sig[i + 1]) * up
    return x


def lms_coefficient(order: int, sig: list, i: int, j: int) -> float:
    """Integral over [sigma_i, sigma_{i+1}] of the j-th Lagrange basis polynomial through the last
    ``order`` sigmas (linear multistep / Adams-Bashforth on a non-uniform grid)."""
    nodes = [sig[i - k] for k in range(order)]
    basis = np.poly1d([1.0])
    for k in range(order):
        if k != j:
            basis *= np.poly1d([1.0, -nodes[k]]) / (nodes[j] - nodes[k])
    antiderivative = basis.integ()
    return float(antiderivative(sig[i + 1]) - antiderivative(sig[i]))


@torch.no_grad()
def lms(model, x, sigmas, callback=None, noise_sampler=None, order: int = 4):
    """Linear multistep on the ODE in sigma, up to 4th order (Karras et al. 2022 compare it as "LMS")."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.double().tolist()
    ds = []
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        ds.append(to_d(x, sig[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        cur = min(i + 1, order)
        coeffs = [lms_coefficient(cur, sig, i, j) for j in range(cur)]
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x


@torch.no_grad()
def ddpm(model, x, sigmas, callback=None, noise_sampler=None):
    """Ancestral DDPM: the posterior mean and variance of Ho et al. 2020 (eqs. 6-7, 11), taken in
    the variance-preserving latent x / sqrt(1 + sigma^2) between arbitrary sigmas."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        s, s_next = sig[i], sig[i + 1]
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, s, denoised)
        eps = (x - denoised) / s
        abar, abar_prev = 1 / (s * s + 1), 1 / (s_next * s_next + 1)
        alpha = abar / abar_prev
        x_vp = x / math.sqrt(1 + s * s)
        x_vp = (x_vp - (1 - alpha) * eps / math.sqrt(1 - abar)) / math.sqrt(alpha)
        if s_next > 0:
            x_vp = x_vp + math.sqrt((1 - alpha) * (1 - abar_prev) / (1 - abar)) * noise_sampler(s, s_next)
            x = x_vp * math.sqrt(1 + s_next * s_next)
        else:
            x = x_vp
    return x


@torch.no_grad()
def lcm(model, x, sigmas, callback=None, noise_sampler=None):
    """Multistep consistency sampling (Luo et al. 2023, Algorithm 1): jump to x0, re-noise to the next sigma."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        x = denoised
        if sig[i + 1] > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * sig[i + 1]
    return x


@torch.no_grad()
def ipndm(model, x, sigmas, callback=None, noise_sampler=None, max_order: int = 4):
    """Improved PNDM (Zhang & Chen 2022, DEIS paper §5): Adams-Bashforth with the fixed uniform-step
    coefficients of orders 1-4 applied to dx/dsigma, warming up from first order."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    history = []
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        d = to_d(x, sig[i], denoised)
        dt = sig[i + 1] - sig[i]
        order = min(max_order, i + 1)
        if order == 1:
            step = d
        elif order == 2:
            step = (3 * d - history[-1]) / 2
        elif order == 3:
            step = (23 * d - 16 * history[-1] + 5 * history[-2]) / 12
        else:
            step = (55 * d - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]) / 24
        x = x + dt * step
        history = (history + [d])[-(max_order - 1):]
    return x
