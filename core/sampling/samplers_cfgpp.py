"""CFG++ samplers (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance").

CFG++ takes the data estimate from the guided denoiser but re-noises along the *unconditional*
noise direction: with D = D_cfg and D_u the unconditional estimate, a DDIM/Euler step becomes
x_next = D + sigma_next * (x - D_u) / sigma (their Algorithm 1 written in the VE latent). So the CFG++
samplers take ``model(x, sigma) -> (D, D_u)``, both from one call (the ``needs_uncond`` contract of
core/sampling/samplers.py).
"""
from __future__ import annotations

import math

import torch

from core.sampling.samplers_basic import _report, ancestral_step, to_d


@torch.no_grad()
def euler_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised, uncond = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        x = denoised + to_d(x, sig[i], uncond) * sig[i + 1]
    return x


@torch.no_grad()
def euler_ancestral_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None, eta: float = 1.0):
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    for i in range(len(sig) - 1):
        denoised, uncond = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        down, up = ancestral_step(sig[i], sig[i + 1], eta)
        x = denoised + to_d(x, sig[i], uncond) * down
        if sig[i + 1] > 0 and up > 0:
            x = x + noise_sampler(sig[i], sig[i + 1]) * up
    return x


@torch.no_grad()
def dpmpp_2m_cfg_pp(model, x, sigmas, callback=None, noise_sampler=None):
    """DPM-Solver++(2M) with the CFG++ split: the exponential step decays x - D_u (unconditional noise)
    and the second-order correction uses the change of the estimates between steps."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    old_uncond, h_last = None, None
    for i in range(len(sig) - 1):
        denoised, uncond = model(x, sigmas[i] * s_in)
        _report(callback, i, x, sig[i], denoised)
        if sig[i + 1] == 0:
            x = denoised
            continue
        h = math.log(sig[i]) - math.log(sig[i + 1])
        decay = math.exp(-h)  # sigma_next / sigma
        x = denoised + decay * (x - uncond)
        if old_uncond is not None:
            r = h_last / h
            x = x - math.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        old_uncond, h_last = uncond, h
    return x
