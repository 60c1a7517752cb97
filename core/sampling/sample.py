"""The KSampler entry point: seeded noise, sigmas, guidance and a sampler run on one MODEL.

LATENT samples are raw VAE space; ``model.latent_format`` maps them into sampling space going in and
back coming out. The start point follows ComfyUI: latent + noise * sqrt(1 + sigma_0^2) when
sigma_0 is the schedule's largest sigma (the VP prior scaled to VE), else latent + noise * sigma_0; for
flow models sigma_0 * noise + (1 - sigma_0) * latent, and the result is divided by (1 - sigma_last).
"""
from __future__ import annotations

import functools
import logging

import torch

from core.execution import progress
from core.sampling import schedulers
from core.sampling.denoiser import Denoiser
from core.sampling.guidance import CFGDenoiser, prepare_conds
from core.sampling.noise import initial_noise
from core.sampling.samplers import SamplerSpec, get_sampler
from core.sampling.schedule import DiscreteSchedule

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def _schedule(prediction: str) -> DiscreteSchedule:
    return DiscreteSchedule(prediction=prediction)


def schedule_for(model):
    """The model sampling of a MODEL: its flow sampling (set at load or by a ModelSampling* node), else the
    discrete SD schedule (all SD1/SD2/SDXL checkpoints share the betas; prediction differs)."""
    sampling = getattr(model, "model_sampling", None)
    if sampling is not None:
        return sampling
    prediction = model.config.prediction
    if prediction == "flow":  # a flow model whose sampling was dropped: its family's default
        from core.sampling.model_sampling import default_for_family

        sampling = default_for_family(model.config.family)
        if sampling is None:
            raise ValueError(f"MODEL {model.name!r}: flow model of family {model.config.family!r} has no model sampling")
        return sampling
    return _schedule(prediction)


def prepare_noise(latent: torch.Tensor, seed: int, batch_index=None) -> torch.Tensor:
    return initial_noise(latent.shape, seed, batch_index)


def ksampler_sigmas(model, steps: int, sampler_name: str, scheduler: str, denoise: float = 1.0,
                    start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False) -> torch.Tensor:
    """KSampler's sigmas, cut to steps [start_step, last_step] as KSamplerAdvanced asks."""
    sigmas = schedulers.ksampler_sigmas(schedule_for(model), scheduler, sampler_name, steps, denoise)
    if last_step is not None and last_step < len(sigmas) - 1:
        sigmas = sigmas[:last_step + 1].clone()
        if force_full_denoise:
            sigmas[-1] = 0
    if start_step is not None:
        sigmas = sigmas[start_step:] if start_step < len(sigmas) - 1 else sigmas[:0]
    return sigmas


def _vector_builder(model):
    """The per-entry conditioning vector of DiT families (None: U-Nets use adm_in_channels)."""
    if getattr(model.config, "family", "") in ("flux", "flux_schnell"):
        from core.sampling.flow_conds import flux_vector

        return functools.partial(flux_vector, pooled_dim=model.config.extra["flux"].vec_in_dim)
    if getattr(model.config, "family", "") == "sd3" and "mmdit" in model.config.extra:
        from core.sampling.flow_conds import sd3_vector

        return functools.partial(sd3_vector, pooled_dim=model.config.extra["mmdit"].pooled_dim)
    if getattr(model.config, "family", "") == "z_image":
        from core.sampling.flow_conds import caption_length

        return caption_length
    return None


def _flow_arg(sampler, schedule) -> dict:
    """``flow=`` for SAMPLER values that take it (ours), so flow models get the flow variants; plugin
    SAMPLER objects keep ComfyUI's ``sample(model, x, sigmas, seed, callback)`` call."""
    if schedule.prediction != "flow":
        return {}
    import inspect

    try:
        takes = "flow" in inspect.signature(sampler.sample).parameters
    except (TypeError, ValueError):
        takes = False
    return {"flow": schedule} if takes else {}


def _resize_mask(mask: torch.Tensor, shape) -> torch.Tensor:
    """noise_mask [B?, 1?, H, W] (pixels) -> [B, 1, h, w] at latent size."""
    mask = mask.float()
    mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = torch.nn.functional.interpolate(mask, size=shape[-2:], mode="bilinear", align_corners=False)
    if mask.shape[0] != shape[0]:
        mask = mask.repeat((shape[0] + mask.shape[0] - 1) // mask.shape[0], 1, 1, 1)[:shape[0]]
    return mask


class _InpaintBlend:
    """Keep the unmasked region on the path of the original latent: before each call that region of x
    is replaced by the model's noise scaling of (noise, latent) at sigma (latent + noise * sigma, or on a
    flow model sigma * noise + (1 - sigma) * latent), after it the denoised estimate there is the latent."""

    def __init__(self, inner, latent, noise, mask, schedule):
        self.inner, self.latent, self.noise, self.mask = inner, latent, noise, mask
        self.keep = 1 - mask
        self.schedule = schedule

    def _on_path(self, x, sigma):
        return x * self.mask + self.schedule.noise_scaling(sigma, self.noise, self.latent) * self.keep

    def _kept(self, denoised):
        return denoised * self.mask + self.latent * self.keep

    def __call__(self, x, sigma):
        return self._kept(self.inner(self._on_path(x, sigma), sigma))

    def denoise_pair(self, x, sigma):
        denoised, uncond = self.inner.denoise_pair(self._on_path(x, sigma), sigma)
        return self._kept(denoised), self._kept(uncond)


def _inpaint_concat(model, latent_in, mask):
    """Extra U-Net input channels of inpainting checkpoints: [mask (1 = repaint), masked-image latent]."""
    B, _, h, w = latent_in.shape
    if mask is None:  # nothing masked: repaint everything; no image to keep
        return torch.cat([latent_in.new_ones(B, 1, h, w), torch.zeros_like(latent_in)], dim=1)
    return torch.cat([mask.round(), latent_in], dim=1)


def sample_custom(model, noise: torch.Tensor, cfg: float, sampler: SamplerSpec, sigmas: torch.Tensor,
                  positive, negative, latent_image: torch.Tensor, noise_mask=None, seed: int = 0,
                  node: str = "KSampler", return_denoised: bool = False):
    """Run ``sampler`` over ``sigmas`` from the raw latent; returns the raw latent (and the last x0)."""
    from core import devices
    from core.sampling.preview import make_previewer

    if len(sigmas) <= 1:
        return (latent_image, latent_image) if return_denoised else latent_image
    schedule = schedule_for(model)
    device = model.device or devices.get_torch_device()
    fmt = model.latent_format
    steps = len(sigmas) - 1
    bar = progress.ProgressBar(steps)
    previewer = make_previewer(fmt)
    last = {}

    def callback(info):
        last["x0"] = info["denoised"]
        preview = previewer(info["denoised"]) if previewer is not None else None
        bar.update_absolute(info["i"] + 1, preview=preview)

    progress.check_interrupt()
    with devices.manager.activate(model):
        dtype = model.dtype
        latent_in = fmt.process_in(latent_image.float()).to(device)
        noise = noise.float().to(device)
        sigmas = sigmas.float().to(device)
        shape = latent_in.shape
        mask = None if noise_mask is None else _resize_mask(noise_mask, shape).to(device)
        adm = model.config.adm_in_channels
        cond_args = dict(latent_shape=shape, schedule=schedule, adm_channels=adm, device=device, dtype=dtype,
                         vector=_vector_builder(model))
        pos = prepare_conds(positive, uncond=False, **cond_args)
        neg = prepare_conds(negative, uncond=True, **cond_args)
        concat = _inpaint_concat(model, latent_in, mask) if model.config.in_channels == 9 else None
        unet = model.unet
        denoiser = Denoiser(unet, schedule, dtype)
        fn = CFGDenoiser(denoiser, pos, neg, cfg, model.model_options, concat, model)
        if mask is not None:
            blend_noise = noise
            if sampler.inpaint_random_noise:
                blend_noise = initial_noise(shape, seed + 1).to(device)
            fn = _InpaintBlend(fn, latent_in, blend_noise, mask, schedule)
        sigma0 = float(sigmas[0])
        x = schedule.noise_scaling(sigma0, noise, latent_in, max_denoise=schedule.is_max_sigma(sigma0))
        log.debug("%s: %s over %d sigmas %.4g..%.4g on %s", node, sampler.name, len(sigmas), sigma0,
                  float(sigmas[-1]), device)
        with torch.inference_mode():
            x = devices.manager.run(sampler.sample, fn, x, sigmas, seed, callback, what=node,
                                    **_flow_arg(sampler, schedule))
        x = schedule.inverse_noise_scaling(float(sigmas[-1]), x)
        out = fmt.process_out(x).float().cpu()
        if mask is not None and float(sigmas[-1]) == 0:  # the kept region is the input latent, bit for bit
            keep = mask.cpu()
            out = out * keep + latent_image.float() * (1 - keep)
        x0 = fmt.process_out(last["x0"]).float().cpu() if "x0" in last else out
    return (out, x0) if return_denoised else out


def common_ksampler(model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str,
                    positive, negative, latent: dict, denoise: float = 1.0, disable_noise: bool = False,
                    start_step: int | None = None, last_step: int | None = None,
                    force_full_denoise: bool = False, node: str = "KSampler") -> dict:
    """KSampler / KSamplerAdvanced: returns a new LATENT dict."""
    samples = latent["samples"]
    if disable_noise:
        noise = torch.zeros_like(samples, dtype=torch.float32)
    else:
        noise = prepare_noise(samples, seed, latent.get("batch_index"))
    sigmas = ksampler_sigmas(model, steps, sampler_name, scheduler, denoise, start_step, last_step,
                             force_full_denoise)
    out = sample_custom(model, noise, cfg, get_sampler(sampler_name), sigmas, positive, negative, samples,
                        latent.get("noise_mask"), seed, node)
    result = dict(latent)
    result["samples"] = out
    return result
