"""Sampler catalogue under ComfyUI's names, and the SAMPLER value (``SamplerSpec``) nodes pass around.

The sampler contract (k-diffusion's): a sampler is a pure function
``fn(model, x, sigmas, callback=None, noise_sampler=None, **options) -> x`` that loops over ``sigmas``
with its state in local variables. ``model(x, sigma) -> denoised`` is D(x; sigma) over the VE latent
(core/sampling/denoiser.py), guidance included. Samplers marked ``needs_uncond`` (the CFG++ family) need
the unconditional estimate of the same call as well: they receive ``model(x, sigma) -> (denoised,
uncond_denoised)`` instead, which :meth:`SamplerSpec.sample` builds with :func:`with_uncond`: from the
model's ``denoise_pair`` when it is a :class:`GuidedDenoiser` (core.sampling.guidance.CFGDenoiser is),
else ``(D, D)``, since without guidance the unconditional estimate is D itself.

Every name in :data:`SAMPLER_NAMES` has its own implementation; none is an alias of another,
except ``ddim``, which ComfyUI defines as Euler (DDIM with eta = 0 is Euler on the VE ODE; Karras et al.
2022, §3) plus fresh random noise for the inpainting blend, and the ``*_sde_gpu`` names, which run the
same solver with Brownian noise drawn on the sampling device instead of the CPU.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import torch

from core.sampling import dpm_solver, names, samplers_basic as basic, samplers_cfgpp as cfgpp, samplers_dpmpp as dpmpp, uni_pc
from core.sampling import samplers_flow as flow, samplers_multistep as multistep
from core.sampling.noise import BrownianNoise, DeviceBrownianNoise, GaussianNoise


@dataclass(frozen=True)
class _Entry:
    fn: Callable
    noise: type | None = None  # noise sampler class for stochastic samplers
    inpaint_random_noise: bool = False
    needs_uncond: bool = False  # CFG++: model(x, sigma) -> (denoised, uncond_denoised)
    flow_fn: Callable | None = None  # the variant for flow models, where ComfyUI has one (ancestral, SDE)


_CATALOGUE = {
    "euler": _Entry(basic.euler),
    "euler_cfg_pp": _Entry(cfgpp.euler_cfg_pp, needs_uncond=True),
    "euler_ancestral": _Entry(basic.euler_ancestral, GaussianNoise, flow_fn=flow.euler_ancestral_rf),
    "euler_ancestral_cfg_pp": _Entry(cfgpp.euler_ancestral_cfg_pp, GaussianNoise, needs_uncond=True),
    "heun": _Entry(basic.heun),
    "dpm_2": _Entry(basic.dpm_2),
    "dpm_2_ancestral": _Entry(basic.dpm_2_ancestral, GaussianNoise, flow_fn=flow.dpm_2_ancestral_rf),
    "lms": _Entry(basic.lms),
    "dpm_fast": _Entry(dpm_solver.dpm_fast),
    "dpm_adaptive": _Entry(dpm_solver.dpm_adaptive),
    "dpmpp_2s_ancestral": _Entry(dpmpp.dpmpp_2s_ancestral, GaussianNoise, flow_fn=flow.dpmpp_2s_ancestral_rf),
    "dpmpp_sde": _Entry(dpmpp.dpmpp_sde, BrownianNoise, flow_fn=flow.dpmpp_sde_rf),
    "dpmpp_sde_gpu": _Entry(dpmpp.dpmpp_sde, DeviceBrownianNoise, flow_fn=flow.dpmpp_sde_rf),
    "dpmpp_2m": _Entry(dpmpp.dpmpp_2m),
    "dpmpp_2m_cfg_pp": _Entry(cfgpp.dpmpp_2m_cfg_pp, needs_uncond=True),
    "dpmpp_2m_sde": _Entry(dpmpp.dpmpp_2m_sde, BrownianNoise, flow_fn=flow.dpmpp_2m_sde_rf),
    "dpmpp_2m_sde_gpu": _Entry(dpmpp.dpmpp_2m_sde, DeviceBrownianNoise, flow_fn=flow.dpmpp_2m_sde_rf),
    "dpmpp_3m_sde": _Entry(dpmpp.dpmpp_3m_sde, BrownianNoise, flow_fn=flow.dpmpp_3m_sde_rf),
    "dpmpp_3m_sde_gpu": _Entry(dpmpp.dpmpp_3m_sde, DeviceBrownianNoise, flow_fn=flow.dpmpp_3m_sde_rf),
    "ddpm": _Entry(basic.ddpm, GaussianNoise),
    "lcm": _Entry(basic.lcm, GaussianNoise),
    "ipndm": _Entry(basic.ipndm),
    "res_multistep": _Entry(multistep.res_multistep),
    "res_multistep_cfg_pp": _Entry(multistep.res_multistep_cfg_pp, needs_uncond=True),
    "res_multistep_ancestral": _Entry(multistep.res_multistep_ancestral, GaussianNoise),
    "res_multistep_ancestral_cfg_pp": _Entry(multistep.res_multistep_ancestral_cfg_pp, GaussianNoise, needs_uncond=True),
    "gradient_estimation": _Entry(multistep.gradient_estimation),
    "gradient_estimation_cfg_pp": _Entry(multistep.gradient_estimation_cfg_pp, needs_uncond=True),
    "er_sde": _Entry(multistep.er_sde, GaussianNoise, flow_fn=multistep.er_sde_rf),
    "ddim": _Entry(basic.euler, inpaint_random_noise=True),
    "uni_pc": _Entry(uni_pc.uni_pc),
    "uni_pc_bh2": _Entry(uni_pc.uni_pc_bh2),
}

SAMPLER_NAMES = tuple(_CATALOGUE)
assert SAMPLER_NAMES == names.SAMPLER_NAMES, "core/sampling/names.py is out of date"


@runtime_checkable
class GuidedDenoiser(Protocol):
    """A denoiser that can also give the unconditional estimate of the same call."""

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor: ...

    def denoise_pair(self, x: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def with_uncond(model) -> Callable:
    """``model`` as CFG++ samplers call it: ``(x, sigma) -> (denoised, uncond_denoised)``."""
    if isinstance(model, GuidedDenoiser):
        return model.denoise_pair

    def unguided(x, sigma):
        denoised = model(x, sigma)
        return denoised, denoised

    return unguided


@dataclass(frozen=True)
class SamplerSpec:
    """A SAMPLER socket value: a sampling function plus its fixed options."""

    name: str
    fn: Callable
    noise: type | None = None
    inpaint_random_noise: bool = False
    options: dict = field(default_factory=dict)
    needs_uncond: bool = False
    flow_fn: Callable | None = None

    def sample(self, model, x, sigmas, seed: int, callback=None, flow=None):
        """``flow``: the model sampling of a flow model (core/sampling/model_sampling.py), or None;
        samplers with a flow variant run that instead, given the model sampling."""
        noise_sampler = self.noise(x, seed) if self.noise is not None else None
        if self.needs_uncond:
            model = with_uncond(model)
        if flow is not None and self.flow_fn is not None:
            return self.flow_fn(model, x, sigmas, callback=callback, noise_sampler=noise_sampler,
                                model_sampling=flow, **self.options)
        return self.fn(model, x, sigmas, callback=callback, noise_sampler=noise_sampler, **self.options)


def get_sampler(name: str, **options) -> SamplerSpec:
    entry = _CATALOGUE.get(name)
    if entry is None:
        raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLER_NAMES)}")
    return SamplerSpec(name, entry.fn, entry.noise, entry.inpaint_random_noise, dict(options), entry.needs_uncond,
                       entry.flow_fn)
