"""KSampler and KSamplerAdvanced (docs/comfy-api.md §6): thin wrappers over core.sampling.sample."""
from __future__ import annotations

from core.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from core.execution.spec import MAX_SEED, Combo, Float, In, Int, Node, Output


def _latent(node: str, latent) -> dict:
    if not isinstance(latent, dict) or "samples" not in latent:
        raise ValueError(f"{node}, input 'latent_image': expected a LATENT dict with 'samples', got {type(latent).__name__}")
    if latent["samples"].ndim != 4:
        raise ValueError(f"{node}, input 'latent_image': expected [B,C,H,W] latents, got shape {list(latent['samples'].shape)}")
    return latent


def _check_names(node: str, sampler_name: str, scheduler: str):
    if sampler_name not in SAMPLER_NAMES:
        raise ValueError(f"{node}, input 'sampler_name': unknown sampler {sampler_name!r}")
    if scheduler not in SCHEDULER_NAMES:
        raise ValueError(f"{node}, input 'scheduler': unknown scheduler {scheduler!r}")


def _common(cfg_default=8.0):
    return (
        Int("steps", default=20, min=1, max=10000, tooltip="The number of denoising steps."),
        Float("cfg", default=cfg_default, min=0.0, max=100.0, step=0.1, round=0.01,
              tooltip="Classifier-free guidance scale."),
        Combo("sampler_name", choices=SAMPLER_NAMES),
        Combo("scheduler", choices=SCHEDULER_NAMES),
        In("CONDITIONING", "positive"),
        In("CONDITIONING", "negative"),
        In("LATENT", "latent_image"),
    )


class KSampler(Node):
    CATEGORY = "sampling"
    COMFY_FUNCTION = "sample"
    DESCRIPTION = "Uses the provided model, positive and negative conditioning to denoise the latent image."
    INPUTS = (In("MODEL", "model"),
              Int("seed", default=0, min=0, max=MAX_SEED, control_after_generate=True,
                  tooltip="The random seed used for creating the noise."),
              ) + _common() + (
              Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                    tooltip="The amount of denoising applied; lower values keep more of the input latent."),)
    OUTPUTS = (Output("LATENT"),)

    def execute(self, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image,
                denoise=1.0):
        from core.sampling.sample import common_ksampler

        _check_names("KSampler", sampler_name, scheduler)
        return (common_ksampler(model, seed, steps, cfg, sampler_name, scheduler, positive, negative,
                                _latent("KSampler", latent_image), denoise=denoise, node="KSampler"),)


class KSamplerAdvanced(Node):
    CATEGORY = "sampling"
    COMFY_FUNCTION = "sample"
    DISPLAY_NAME = "KSampler (Advanced)"
    INPUTS = (In("MODEL", "model"),
              Combo("add_noise", choices=("enable", "disable")),
              Int("noise_seed", default=0, min=0, max=MAX_SEED, control_after_generate=True),
              ) + _common() + (
              Int("start_at_step", default=0, min=0, max=10000),
              Int("end_at_step", default=10000, min=0, max=10000),
              Combo("return_with_leftover_noise", choices=("disable", "enable")),)
    OUTPUTS = (Output("LATENT"),)

    def execute(self, model, add_noise, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                latent_image, start_at_step, end_at_step, return_with_leftover_noise, denoise=1.0):
        from core.sampling.sample import common_ksampler

        _check_names("KSamplerAdvanced", sampler_name, scheduler)
        return (common_ksampler(model, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                                _latent("KSamplerAdvanced", latent_image), denoise=denoise,
                                disable_noise=add_noise == "disable", start_step=start_at_step,
                                last_step=end_at_step, force_full_denoise=return_with_leftover_noise != "enable",
                                node="KSamplerAdvanced"),)


NODES = [KSampler, KSamplerAdvanced]
