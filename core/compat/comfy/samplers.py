"""ComfyUI's ``comfy.samplers`` for custom node packs: sampler/scheduler names, KSampler, KSAMPLER, CFGGuider.

Everything runs through core.sampling (one sampling engine): ``KSampler.sample`` and
``CFGGuider.sample`` call ``core.sampling.sample.sample_custom``; a ``KSAMPLER`` wraps a k-diffusion
style function (``fn(model, x, sigmas, extra_args=..., callback=..., disable=..., **options)``) so it
runs in our sampler slot; ``sampler_object(name)`` gives our own samplers.
"""
from __future__ import annotations

from core.compat.missing import UnsupportedComfyAPI, message, module_getattr
from core.sampling.names import SAMPLER_NAMES as _SAMPLERS, SCHEDULER_NAMES as _SCHEDULERS

SAMPLER_NAMES = list(_SAMPLERS)
SCHEDULER_NAMES = list(_SCHEDULERS)
KSAMPLER_NAMES = [n for n in SAMPLER_NAMES if n not in ("ddim", "uni_pc", "uni_pc_bh2")]


class SchedulerHandler:
    def __init__(self, handler, use_ms: bool = True):
        self.handler, self.use_ms = handler, use_ms


def calculate_sigmas(model_sampling, scheduler_name: str, steps: int):
    """Sigmas of ``scheduler_name`` for a model's ``model_sampling`` (``model.get_model_object("model_sampling")``)."""
    from core.sampling.schedulers import calculate_sigmas as calc

    schedule = getattr(model_sampling, "schedule", None)
    if schedule is None:
        raise UnsupportedComfyAPI(message("comfy.samplers.calculate_sigmas", "it needs the model_sampling object of "
                                          "a Latentflow MODEL (model.get_model_object('model_sampling'))"))
    return calc(schedule, scheduler_name, int(steps))


class _KDiffusionModel:
    """What a k-diffusion style sampler receives: ``model(x, sigma, **extra_args) -> denoised``."""

    def __init__(self, fn, model_patcher=None):
        self.fn = fn
        self.inner_model = self
        self.model_patcher = model_patcher

    def __call__(self, x, sigma, **_extra):
        return self.fn(x, sigma)

    @property
    def model_sampling(self):
        return None if self.model_patcher is None else self.model_patcher.get_model_object("model_sampling")


class KSAMPLER:
    """A SAMPLER value around a k-diffusion style function (what custom sampler nodes return)."""

    def __init__(self, sampler_function, extra_options=None, inpaint_options=None, name: str | None = None):
        self.sampler_function = sampler_function
        self.extra_options = dict(extra_options or {})
        self.inpaint_options = dict(inpaint_options or {})
        self.name = name or getattr(sampler_function, "__name__", "plugin sampler")
        self.noise = None
        self.options = self.extra_options
        self.inpaint_random_noise = bool(self.inpaint_options.get("random", False))
        self.needs_uncond = False

    def sample(self, model, x, sigmas, seed: int, callback=None):
        """Our engine's SAMPLER call (core.sampling.samplers.SamplerSpec.sample)."""
        import torch

        from core.sampling.noise import GaussianNoise

        extra = {"seed": seed, "model_options": {}}
        noise_sampler = GaussianNoise(x, seed)
        options = dict(self.extra_options)
        params = _parameters(self.sampler_function)
        if "noise_sampler" in params and "noise_sampler" not in options:
            options["noise_sampler"] = lambda sigma=None, sigma_next=None: noise_sampler()
        with torch.inference_mode():
            return self.sampler_function(_KDiffusionModel(model), x, sigmas, extra_args=extra, callback=callback,
                                         disable=True, **options)


def _parameters(fn) -> set:
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def sampler_object(name: str):
    """Our sampler ``name`` as a SAMPLER value."""
    from core.sampling.samplers import get_sampler

    return get_sampler(name)


def ksampler(sampler_name: str, extra_options=None, inpaint_options=None):
    from core.sampling.samplers import get_sampler

    return get_sampler(sampler_name, **(extra_options or {}))


def _with_callback(sampler, callback, total: int):
    """A SAMPLER whose step callback also calls a plugin's ``callback(step, x0, x, total_steps)``."""
    if callback is None:
        return sampler

    class _Reporting:
        def __getattr__(self, attr):
            return getattr(sampler, attr)

        def sample(self, model, x, sigmas, seed, cb=None):
            def both(info):
                if cb is not None:
                    cb(info)
                callback(info["i"], info["denoised"], info["x"], total)
            return sampler.sample(model, x, sigmas, seed, both)

    return _Reporting()


class KSampler:
    """``comfy.samplers.KSampler(model, steps, device, sampler, scheduler, denoise)``."""

    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}

    def __init__(self, model, steps, device=None, sampler=None, scheduler=None, denoise=None, model_options=None):
        self.model = model
        self.device = device
        self.sampler, self.scheduler = sampler, scheduler
        self.model_options = model_options or {}
        self.set_steps(steps, denoise)

    def calculate_sigmas(self, steps: int):
        from core.sampling.sample import schedule_for
        from core.sampling.schedulers import ksampler_sigmas

        return ksampler_sigmas(schedule_for(self.model), self.scheduler, self.sampler, steps)

    def set_steps(self, steps: int, denoise=None):
        from core.sampling.sample import schedule_for
        from core.sampling.schedulers import ksampler_sigmas

        self.steps = steps
        self.denoise = denoise
        self.sigmas = ksampler_sigmas(schedule_for(self.model), self.scheduler, self.sampler, steps,
                                      1.0 if denoise is None else denoise)

    def sample(self, noise, positive, negative, cfg, latent_image=None, start_step=None, last_step=None,
               force_full_denoise=False, denoise_mask=None, sigmas=None, callback=None, disable_pbar=False,
               seed=None):
        from core.sampling.sample import sample_custom

        sigmas = self.sigmas if sigmas is None else sigmas
        if last_step is not None and last_step < len(sigmas) - 1:
            sigmas = sigmas[:last_step + 1].clone()
            if force_full_denoise:
                sigmas[-1] = 0
        if start_step is not None:
            sigmas = sigmas[start_step:] if start_step < len(sigmas) - 1 else sigmas[:0]
        sampler = _with_callback(sampler_object(self.sampler), callback, max(len(sigmas) - 1, 0))
        latent = latent_image if latent_image is not None else noise.new_zeros(noise.shape)
        return sample_custom(self.model, noise, cfg, sampler, sigmas, positive, negative, latent,
                             denoise_mask, 0 if seed is None else seed, node="comfy.samplers.KSampler")


class CFGGuider:
    """A GUIDER value: MODEL + conditionings + cfg, sampled by :func:`core.sampling.sample.sample_custom`."""

    def __init__(self, model_patcher):
        self.model_patcher = model_patcher
        self.model_options = getattr(model_patcher, "model_options", {})
        self.original_conds = {}
        self.cfg = 1.0

    def set_conds(self, positive, negative):
        self.inner_set_conds({"positive": positive, "negative": negative})

    def inner_set_conds(self, conds):
        self.original_conds.update(conds)

    def set_cfg(self, cfg):
        self.cfg = cfg

    def predict_noise(self, x, timestep, model_options=None, seed=None):
        raise UnsupportedComfyAPI(message("comfy.samplers.CFGGuider.predict_noise", "Latentflow's guidance runs "
                                          "inside its sampler; call sample() instead"))

    def sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
               seed=None):
        from core.sampling.sample import sample_custom

        own = type(self)
        for hook in ("predict_noise", "outer_sample", "inner_sample"):
            if getattr(own, hook) is not getattr(CFGGuider, hook, None):
                raise UnsupportedComfyAPI(message(f"{own.__name__}.{hook} (a CFGGuider subclass overriding it)",
                                                  "Latentflow's guidance runs inside its own sampler; only "
                                                  "model_options hooks (sampler_cfg_function, ...) are honoured"))
        positive = self.original_conds.get("positive", [])
        negative = self.original_conds.get("negative", [])
        sampler = _with_callback(sampler, callback, max(len(sigmas) - 1, 0))
        return sample_custom(self.model_patcher, noise, self.cfg, sampler, sigmas, positive, negative, latent_image,
                             denoise_mask, 0 if seed is None else seed, node="comfy.samplers.CFGGuider")

    def outer_sample(self, *args, **kwargs):
        raise UnsupportedComfyAPI(message("comfy.samplers.CFGGuider.outer_sample", "use sample()"))

    def inner_sample(self, *args, **kwargs):
        raise UnsupportedComfyAPI(message("comfy.samplers.CFGGuider.inner_sample", "use sample()"))


__getattr__ = module_getattr(__name__, {
    "sampling_function": "Latentflow's guidance (core/sampling/guidance.py) runs inside its sampler; use "
                         "model_options hooks such as sampler_cfg_function",
    "KSamplerX0Inpaint": "inpainting is handled inside Latentflow's sampler (noise_mask / denoise_mask)",
    "calc_cond_batch": "Latentflow batches conditionings inside its own guidance module",
})
