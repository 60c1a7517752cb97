"""ComfyUI's ``comfy.k_diffusion.sampling``: k-diffusion's sampler signatures over core.sampling.

``sample_<name>(model, x, sigmas, extra_args=None, callback=None, disable=None, ...)`` calls our
sampler ``<name>`` with ``model(x, sigma, **extra_args)``; schedules and helpers are ours too.
"""
from __future__ import annotations

import functools

from core.compat.missing import module_getattr
from core.sampling.samplers_basic import ancestral_step, to_d  # noqa: F401  (k-diffusion names)
from core.sampling.schedulers import exponential as _exponential, karras as _karras
from core.sampling.names import SAMPLER_NAMES


def get_sigmas_karras(n, sigma_min, sigma_max, rho=7.0, device="cpu"):
    return _karras(n, float(sigma_min), float(sigma_max), rho).to(device)


def get_sigmas_exponential(n, sigma_min, sigma_max, device="cpu"):
    return _exponential(n, float(sigma_min), float(sigma_max)).to(device)


def get_ancestral_step(sigma_from, sigma_to, eta=1.0):
    return ancestral_step(float(sigma_from), float(sigma_to), eta)


def append_zero(x):
    import torch

    return torch.cat([x, x.new_zeros([1])])


def default_noise_sampler(x, seed=None):
    from core.sampling.noise import GaussianNoise

    return GaussianNoise(x, 0 if seed is None else seed)


class BrownianTreeNoiseSampler:
    """``BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed=None, cpu=False)``: our Brownian path."""

    def __init__(self, x, sigma_min, sigma_max, seed=None, transform=None, cpu=False):
        from core.sampling.noise import BrownianNoise

        self._noise = BrownianNoise(x, 0 if seed is None else (seed[0] if isinstance(seed, list) else seed))

    def __call__(self, sigma, sigma_next):
        return self._noise(sigma, sigma_next)


def _wrap(name: str):
    def sample(model, x, sigmas, extra_args=None, callback=None, disable=None, noise_sampler=None, **options):
        from core.sampling.samplers import get_sampler

        extra = extra_args or {}
        spec = get_sampler(name)
        seed = extra.get("seed", 0) or 0
        if noise_sampler is None and spec.noise is not None:
            noise_sampler = spec.noise(x, seed)
        fn = functools.partial(spec.fn, **{k: v for k, v in options.items() if k in _accepted(spec.fn)})
        return fn(lambda xx, s: model(xx, s, **extra), x, sigmas, callback=callback, noise_sampler=noise_sampler)

    sample.__name__ = f"sample_{name}"
    return sample


def _accepted(fn) -> set:
    import inspect

    return set(inspect.signature(fn).parameters)


for _name in SAMPLER_NAMES:
    if not _name.endswith("_gpu") and _name not in ("ddim",):
        globals()[f"sample_{_name}"] = _wrap(_name)

__getattr__ = module_getattr(__name__)
