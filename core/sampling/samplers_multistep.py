"""Samplers the DiT templates default to: RES multistep, gradient estimation, ER-SDE.

All three run on any model sampling, in the sampler space of core/sampling/samplers.py
(``model(x, sigma) -> D``), as ComfyUI runs them on eps, v and flow models alike.

- ``res_multistep`` (Zhang et al. 2023, "Improving the training of rectified flows"/RES, arXiv 2308.02157):
  the second-order multistep exponential integrator in t = -log sigma. With D taken linear in t through
  the current and previous estimates, the exact integral of dx/dt = D - x over one step is
  ``x' = e^-h x + h·phi1(-h)·D + h²·phi2(-h)·(D - D_prev) / h_prev``, phi1(z) = (e^z - 1)/z,
  phi2(z) = (phi1(z) - 1)/z. The ancestral variants take that step down to sigma_down and add fresh
  noise (the VE split, as ComfyUI does for every model); the CFG++ variants step along the
  unconditional estimate.
- ``gradient_estimation`` (Permenter & Yuan 2024, "Interpreting and improving diffusion models from an
  optimization perspective"): Euler with the direction d̄ = gamma·d + (1 - gamma)·d_prev, gamma = 2.
- ``er_sde`` (Cui et al. 2023, "Elucidating the solution space of extended reverse-time SDEs", VP
  ER-SDE-Solver-3, arXiv 2309.06169) in lambda = sigma / alpha with the noise scale function
  f(lambda) = lambda·(e^(lambda^0.3) + 10); stages 2 and 3 use the integrals of 1/f and
  (lambda - lambda_s)/f over the step, taken as 200-point Riemann sums as the reference code does.
"""
from __future__ import annotations

import math

import torch

from core.sampling.samplers_basic import _report, ancestral_step, to_d

GE_GAMMA = 2.0
ER_SDE_POINTS = 200


def _res_coefficients(sigma: float, sigma_next: float, h_prev: float) -> tuple[float, float]:
    """(weight of D, weight of D - D_prev) of the RES second-order step from sigma to sigma_next, the
    previous estimate lying h_prev before the current one in t = -log sigma."""
    h = math.log(sigma) - math.log(sigma_next)
    phi1 = -math.expm1(-h)  # h·phi1(-h) = 1 - e^-h
    phi2 = h - phi1  # h²·phi2(-h)
    return phi1, phi2 / h_prev


@torch.no_grad()
def _res_multistep(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 0.0, s_noise: float = 1.0,
                   cfg_pp: bool = False):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    # (D or D_u of the previous step, its span in t). The span is the previous step's own, sigma to its
    # sigma_down, as ComfyUI measures it: the spacing of the two estimates when eta = 0, shorter when
    # the ancestral variants re-noise.
    old = None
    for i in range(len(sig) - 1):
        out = model(x, sigmas[i] * s_in)
        denoised, uncond = out if cfg_pp else (out, out)
        _report(callback, i, x, sig[i], denoised)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        if down == 0 or old is None:
            # first step or last: Euler (CFG++: toward D, re-noised along the unconditional direction)
            x = denoised + to_d(x, sig[i], uncond) * down
        else:
            w1, w2 = _res_coefficients(sig[i], down, old[1])
            if cfg_pp:  # move x onto the guided estimate's manifold, then integrate the unconditional one
                x = x + (denoised - uncond)
            x = (down / sig[i]) * x + w1 * uncond + w2 * (uncond - old[0])
        if sig[i + 1] > 0 and up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * s_noise * up
        old = (uncond, math.log(sig[i]) - math.log(down)) if down > 0 else None
    return x


def res_multistep(model, x, sigmas, callback=None, noise_sampler=None, s_noise: float = 1.0):
    return _res_multistep(model, x, sigmas, callback, noise_sampler, eta=0.0, s_noise=s_noise)


def res_multistep_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None, s_noise: float = 1.0):
    return _res_multistep(model, x, sigmas, callback, noise_sampler, eta=0.0, s_noise=s_noise, cfg_pp=True)


def res_multistep_ancestral(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0, s_noise: float = 1.0):
    return _res_multistep(model, x, sigmas, callback, noise_sampler, eta=eta, s_noise=s_noise)


def res_multistep_ancestral_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0,
                                   s_noise: float = 1.0):
    return _res_multistep(model, x, sigmas, callback, noise_sampler, eta=eta, s_noise=s_noise, cfg_pp=True)


@torch.no_grad()
def _gradient_estimation(model, x, sigmas, callback=None, noise_sampler=None, ge_gamma: float = GE_GAMMA,
                         cfg_pp: bool = False):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    d_prev = None
    for i in range(len(sig) - 1):
        out = model(x, sigmas[i] * s_in)
        denoised, uncond = out if cfg_pp else (out, out)
        _report(callback, i, x, sig[i], denoised)
        d = to_d(x, sig[i], uncond)
        dt = sig[i + 1] - sig[i]
        if sig[i + 1] == 0:
            x = denoised
        else:
            x = denoised + d * sig[i + 1] if cfg_pp else x + d * dt
            if d_prev is not None:
                x = x + (ge_gamma - 1) * (d - d_prev) * dt
        d_prev = d
    return x


def gradient_estimation(model, x, sigmas, callback=None, noise_sampler=None, ge_gamma: float = GE_GAMMA):
    return _gradient_estimation(model, x, sigmas, callback, noise_sampler, ge_gamma)


def gradient_estimation_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None, ge_gamma: float = GE_GAMMA):
    return _gradient_estimation(model, x, sigmas, callback, noise_sampler, ge_gamma, cfg_pp=True)


def er_sde_noise_scale(lam: torch.Tensor) -> torch.Tensor:
    """The ER-SDE paper's noise scale function for VP models: f(lambda) = lambda·(e^(lambda^0.3) + 10)."""
    return lam * ((lam ** 0.3).exp() + 10.0)


def _er_sde(model, x, sig: list, alphas: list, noise_sampler, s_noise: float, max_stage: int, callback):
    s_in = x.new_ones([x.shape[0]])
    lams = [s / a for s, a in zip(sig, alphas)]  # lambda = sigma / alpha
    f = er_sde_noise_scale
    grid = torch.arange(ER_SDE_POINTS, dtype=torch.float64)
    d_prev = dd_prev = None
    for i in range(len(sig) - 1):
        denoised = model(x, sig[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            d_prev = denoised
            continue
        lam_s, lam_t = lams[i], lams[i + 1]
        f_s, f_t = float(f(torch.tensor(lam_s, dtype=torch.float64))), float(f(torch.tensor(lam_t, dtype=torch.float64)))
        alpha_t = alphas[i + 1]
        r = f_t / f_s
        x = (alpha_t / alphas[i]) * r * x + alpha_t * (1 - r) * denoised
        stage = min(max_stage, i + 1)
        if stage >= 2:
            dt = lam_t - lam_s
            step = -dt / ER_SDE_POINTS
            pos = lam_t + grid * step
            scaled = f(pos)
            s1 = float((1 / scaled).sum() * step)
            dd = (denoised - d_prev) / (lam_s - lams[i - 1])
            x = x + alpha_t * (dt + s1 * f_t) * dd
            if stage >= 3:
                s2 = float(((pos - lam_s) / scaled).sum() * step)
                ddd = (dd - dd_prev) / ((lam_s - lams[i - 2]) / 2)
                x = x + alpha_t * (dt ** 2 / 2 + s2 * f_t) * ddd
            dd_prev = dd
        if s_noise > 0:
            std = math.sqrt(max(lam_t ** 2 - lam_s ** 2 * r ** 2, 0.0))
            x = x + alpha_t * noise_sampler(sig[i], sig[i + 1]) * s_noise * std
        d_prev = denoised
    return x


@torch.no_grad()
def er_sde(model, x, sigmas, callback=None, noise_sampler=None, s_noise: float = 1.0, max_stage: int = 3):
    """ER-SDE-Solver-3 on the VE latent (alpha = 1, lambda = sigma)."""
    sig = sigmas.tolist()
    return _er_sde(model, x, sig, [1.0] * len(sig), noise_sampler, s_noise, max_stage, callback)


@torch.no_grad()
def er_sde_rf(model, x, sigmas, callback=None, noise_sampler=None, s_noise: float = 1.0, max_stage: int = 3,
              model_sampling=None):
    """ER-SDE-Solver-3 on a flow model: alpha = 1 - sigma; a first sigma of 1 (lambda = inf) is moved to
    the model's sigma at 0.01% of the run, as for the other flow SDE samplers."""
    sig = sigmas.tolist()
    if len(sig) > 1 and sig[0] >= 1 and model_sampling is not None:
        sig[0] = float(model_sampling.percent_to_sigma(1e-4))
    return _er_sde(model, x, sig, [1.0 - s for s in sig], noise_sampler, s_noise, max_stage, callback)
