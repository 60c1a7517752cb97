"""DPM-Solver (Lu et al. 2022, "DPM-Solver: A Fast ODE Solver ... in Around 10 Steps"), noise prediction.

Time is lambda = -log(sigma); with eps(x, lambda) = (x - D(x; sigma)) / sigma the VE probability-flow
ODE integrates exactly as x(l_next) = x(l) - integral of sigma(l) eps dl, and the solvers below are the
paper's DPM-Solver-1/2/3 (Algorithms 1-2, r1 = 1/3, r2 = 2/3 for third order). ``dpm_fast`` uses the
paper's "fast" order schedule (§3.4); ``dpm_adaptive`` its adaptive step size (Algorithm 5, DPM-Solver-23).
Both stop at the smallest non-zero sigma, as ComfyUI's do.
"""
from __future__ import annotations

import math

import torch


class _EpsModel:
    def __init__(self, model, x):
        self.model = model
        self.s_in = x.new_ones([x.shape[0]])
        self.calls = 0

    def __call__(self, x, lam: float):
        sigma = math.exp(-lam)
        self.calls += 1
        denoised = self.model(x, self.s_in * sigma)
        return (x - denoised) / sigma, denoised


def _sig(lam: float) -> float:
    return math.exp(-lam)


def _step1(x, lam, lam_next, eps):
    return x - _sig(lam_next) * math.expm1(lam_next - lam) * eps


def _step2(f, x, lam, lam_next, eps, r1=0.5):
    h = lam_next - lam
    s1 = lam + r1 * h
    u1 = x - _sig(s1) * math.expm1(r1 * h) * eps
    eps_1, _ = f(u1, s1)
    return (x - _sig(lam_next) * math.expm1(h) * eps
            - _sig(lam_next) / (2 * r1) * math.expm1(h) * (eps_1 - eps)), eps_1


def _step3(f, x, lam, lam_next, eps, r1=1 / 3, r2=2 / 3, eps_1=None):
    """Third-order step; also returns the embedded second-order estimate (for adaptive step control)."""
    h = lam_next - lam
    s1, s2 = lam + r1 * h, lam + r2 * h
    if eps_1 is None:
        u1 = x - _sig(s1) * math.expm1(r1 * h) * eps
        eps_1, _ = f(u1, s1)
    u2 = (x - _sig(s2) * math.expm1(r2 * h) * eps
          - _sig(s2) * (r2 / r1) * (math.expm1(r2 * h) / (r2 * h) - 1) * (eps_1 - eps))
    eps_2, _ = f(u2, s2)
    x_3 = (x - _sig(lam_next) * math.expm1(h) * eps
           - _sig(lam_next) / r2 * (math.expm1(h) / h - 1) * (eps_2 - eps))
    x_2 = (x - _sig(lam_next) * math.expm1(h) * eps
           - _sig(lam_next) / (2 * r1) * math.expm1(h) * (eps_1 - eps))
    return x_3, x_2


def _end_sigmas(sigmas):
    sig = sigmas.tolist()
    sigma_min = sig[-1] if sig[-1] > 0 else sig[-2]
    return sig[0], sigma_min


def fast_orders(nfe: int) -> list:
    """Orders per step so the total model calls equal ``nfe`` (DPM-Solver paper, §3.4)."""
    k = nfe // 3 + 1
    if nfe % 3 == 0:
        return [3] * (k - 2) + [2, 1]
    if nfe % 3 == 1:
        return [3] * (k - 1) + [1]
    return [3] * (k - 1) + [2]


@torch.no_grad()
def dpm_fast(model, x, sigmas, callback=None, noise_sampler=None):
    if len(sigmas) < 2:
        return x
    sigma_max, sigma_min = _end_sigmas(sigmas)
    f = _EpsModel(model, x)
    orders = fast_orders(len(sigmas) - 1)
    lams = torch.linspace(-math.log(sigma_max), -math.log(sigma_min), len(orders) + 1).tolist()
    for i, order in enumerate(orders):
        lam, lam_next = lams[i], lams[i + 1]
        eps, denoised = f(x, lam)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": _sig(lam), "denoised": denoised})
        if order == 1:
            x = _step1(x, lam, lam_next, eps)
        elif order == 2:
            x, _ = _step2(f, x, lam, lam_next, eps)
        else:
            x, _ = _step3(f, x, lam, lam_next, eps)
    return x


@torch.no_grad()
def dpm_adaptive(model, x, sigmas, callback=None, noise_sampler=None, rtol: float = 0.05,
                 atol: float = 0.0078, h_init: float = 0.05, safety: float = 0.9, max_calls: int = 1000):
    """Adaptive DPM-Solver-23: accept the 3rd-order step when its scaled RMS distance to the embedded
    2nd-order step is <= 1; next h = safety * h * E^(-1/3)."""
    if len(sigmas) < 2:
        return x
    sigma_max, sigma_min = _end_sigmas(sigmas)
    f = _EpsModel(model, x)
    lam, lam_end = -math.log(sigma_max), -math.log(sigma_min)
    h = h_init
    x_prev = x
    step = 0
    eps, denoised = f(x, lam)
    while lam < lam_end - 1e-5 and f.calls < max_calls:
        lam_next = min(lam + h, lam_end)
        x_high, x_low = _step3(f, x, lam, lam_next, eps)
        # tolerances apply to the variance-preserving latent x / sqrt(1 + sigma^2), as in the paper
        c = 1 / math.sqrt(1 + _sig(lam_next) ** 2)
        scale = torch.maximum(x_low.abs(), x_prev.abs() * (math.sqrt(1 + _sig(lam) ** 2) * c))
        delta = torch.clamp(rtol * c * scale, min=atol)
        err = float(((x_low - x_high) * c / delta).pow(2).mean().sqrt())
        if err <= 1.0:
            if callback is not None:
                callback({"i": step, "x": x, "sigma": _sig(lam), "denoised": denoised})
            step += 1
            x_prev, x, lam = x_high, x_high, lam_next
            if lam < lam_end - 1e-5:
                eps, denoised = f(x, lam)
        # step-size controller h <- safety * h * E^(-1/3) (paper, Algorithm 5), growth capped at 5x
        h = max(min(safety * max(err, 1e-10) ** (-1 / 3), 5.0) * h, 1e-5)
    return x
