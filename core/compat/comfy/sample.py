"""ComfyUI's ``comfy.sample`` for custom node packs: seeded noise and the KSampler entry points.

All of it is core.sampling.sample (one engine); these are ComfyUI's signatures over it. Latents
go in and come out raw (VAE space), as in ComfyUI.
"""
from __future__ import annotations

import numpy as np  # noqa: F401  (ComfyUI's module exposes it; packs import ``np`` from here)

from core.compat.missing import module_getattr


def prepare_noise(latent_image, seed, noise_inds=None):
    """Noise for ``latent_image`` from a CPU generator seeded with ``seed`` (one seed, one image everywhere)."""
    from core.sampling.sample import prepare_noise as prepare

    return prepare(latent_image, seed, noise_inds)


def fix_empty_latent_channels(model, latent_image):
    """An all-zero latent with the wrong channel count is remade for the model's latent format."""
    import torch

    channels = getattr(model.latent_format, "latent_channels", 4)
    if latent_image.ndim == 4 and latent_image.shape[1] != channels and torch.count_nonzero(latent_image) == 0:
        latent_image = latent_image.new_zeros((latent_image.shape[0], channels, *latent_image.shape[2:]))
    return latent_image


def prepare_mask(noise_mask, shape, device):
    from comfy.sampler_helpers import prepare_mask as prepare

    return prepare(noise_mask, shape, device)


def sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=1.0,
           disable_noise=False, start_step=None, last_step=None, force_full_denoise=False, noise_mask=None,
           sigmas=None, callback=None, disable_pbar=False, seed=None):
    """KSampler: returns the sampled raw latent."""
    from comfy.samplers import KSampler

    sampler = KSampler(model, steps=steps, sampler=sampler_name, scheduler=scheduler, denoise=denoise)
    return sampler.sample(noise, positive, negative, cfg=cfg, latent_image=latent_image, start_step=start_step,
                          last_step=last_step, force_full_denoise=force_full_denoise, denoise_mask=noise_mask,
                          sigmas=sigmas, callback=callback, disable_pbar=disable_pbar, seed=seed)


def sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, latent_image, noise_mask=None,
                  callback=None, disable_pbar=False, seed=None):
    """SamplerCustom: any SAMPLER over explicit sigmas."""
    from comfy.samplers import _with_callback
    from core.sampling.sample import sample_custom as run

    sampler = _with_callback(sampler, callback, max(len(sigmas) - 1, 0))
    return run(model, noise, cfg, sampler, sigmas, positive, negative, latent_image, noise_mask,
               0 if seed is None else seed, node="comfy.sample.sample_custom")


__getattr__ = module_getattr(__name__)
