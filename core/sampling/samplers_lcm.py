"""LCM sampling with tunable per-step noise (ComfyUI's SamplerLCM node).

Multistep consistency sampling (Luo et al. 2023, Algorithm 1): at each sigma jump to the model's x0
estimate, then re-noise it to the next sigma with the model's own noise scaling (x0 + sigma * n on the
VE scale of SD models, sigma * n + (1 - sigma) * x0 on flow models). Here the fresh noise n is scaled by
a multiplier that moves linearly from ``s_noise`` at the first re-noising step to ``s_noise_end`` at the
last one, and may be clamped to +/- ``noise_clip_std`` times its sample standard deviation first.
With s_noise = s_noise_end = 1 and no clamp this is the plain ``lcm`` sampler.
"""
from __future__ import annotations

import torch


def noise_multipliers(sigmas, s_noise: float, s_noise_end: float) -> list:
    """Multiplier for each step (0 where the next sigma is 0: nothing is re-noised there)."""
    sig = [float(s) for s in sigmas]
    renoised = [i for i in range(len(sig) - 1) if sig[i + 1] > 0]
    out = [0.0] * (len(sig) - 1)
    last = max(len(renoised) - 1, 1)
    for k, i in enumerate(renoised):
        out[i] = s_noise + (s_noise_end - s_noise) * k / last
    return out


def clip_noise(noise: torch.Tensor, clip_std: float) -> torch.Tensor:
    if clip_std <= 0:
        return noise
    bound = clip_std * float(noise.std())
    return noise.clamp(-bound, bound)


@torch.no_grad()
def lcm_tunable(model, x, sigmas, callback=None, noise_sampler=None, s_noise: float = 1.0,
                s_noise_end: float = 1.0, noise_clip_std: float = 0.0, model_sampling=None):
    """``model_sampling``: a flow model's sampling (its noise scaling); None for the VE scale."""
    s_in = x.new_ones([x.shape[0]])
    sig = sigmas.tolist()
    scales = noise_multipliers(sig, s_noise, s_noise_end)
    for i in range(len(sig) - 1):
        denoised = model(x, sigmas[i] * s_in)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sig[i], "denoised": denoised})
        x = denoised
        if sig[i + 1] > 0:
            noise = clip_noise(noise_sampler(sig[i], sig[i + 1]), noise_clip_std) * scales[i]
            if model_sampling is None:
                x = x + noise * sig[i + 1]
            else:
                x = model_sampling.noise_scaling(sig[i + 1], noise, x)
    return x
