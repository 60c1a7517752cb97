"""Custom sampling nodes (ComfyUI's nodes_custom_sampler): SAMPLER and SIGMAS as values of their own."""
from __future__ import annotations

from core.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
from core.execution.spec import MAX_SEED, Boolean, Combo, Float, In, Int, Node, Output, String

CATEGORY = "sampling/custom_sampling"


class KSamplerSelect(Node):
    CATEGORY = CATEGORY + "/samplers"
    COMFY_FUNCTION = "get_sampler"
    INPUTS = (Combo("sampler_name", choices=SAMPLER_NAMES),)
    OUTPUTS = (Output("SAMPLER"),)

    def execute(self, sampler_name):
        from core.sampling.samplers import get_sampler

        return (get_sampler(sampler_name),)


class SamplerLCM(Node):
    CATEGORY = CATEGORY + "/samplers"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    DESCRIPTION = "LCM sampler with tunable per-step noise. s_noise is a multiplier on the model's training noise scale"
    INPUTS = (Float("s_noise", default=1.0, min=0.0, max=64.0, step=0.01,
                    tooltip="Per-step noise multiplier at the first step (1.0 = match training)."),
              Float("s_noise_end", default=1.0, min=0.0, max=64.0, step=0.01,
                    tooltip="Per-step noise multiplier at the last step. Set equal to s_noise for a constant schedule."),
              Float("noise_clip_std", default=0.0, min=0.0, max=10.0, step=0.01,
                    tooltip="Clamp per-step noise to +/- N*std. 0 disables."))
    OUTPUTS = (Output("SAMPLER"),)

    def execute(self, s_noise, s_noise_end, noise_clip_std):
        from core.sampling.noise import GaussianNoise
        from core.sampling.samplers import SamplerSpec
        from core.sampling.samplers_lcm import lcm_tunable

        options = {"s_noise": s_noise, "s_noise_end": s_noise_end, "noise_clip_std": noise_clip_std}
        # flow models get the same loop with their own noise scaling (flow_fn receives model_sampling)
        return (SamplerSpec("lcm", lcm_tunable, GaussianNoise, options=options, flow_fn=lcm_tunable),)


class BasicScheduler(Node):
    CATEGORY = CATEGORY + "/schedulers"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (In("MODEL", "model"), Combo("scheduler", choices=SCHEDULER_NAMES),
              Int("steps", default=20, min=1, max=10000),
              Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, model, scheduler, steps, denoise):
        import torch

        from core.sampling.sample import schedule_for
        from core.sampling.schedulers import calculate_sigmas

        if denoise < 1.0:
            if denoise <= 0.0:
                return (torch.zeros(0),)
            total = int(steps / denoise)
        else:
            total = steps
        return (calculate_sigmas(schedule_for(model), scheduler, total)[-(steps + 1):],)


class KarrasScheduler(Node):
    CATEGORY = CATEGORY + "/schedulers"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (Int("steps", default=20, min=1, max=10000),
              Float("sigma_max", default=14.614642, min=0.0, max=5000.0, step=0.01, round=False),
              Float("sigma_min", default=0.0291675, min=0.0, max=5000.0, step=0.01, round=False),
              Float("rho", default=7.0, min=0.0, max=100.0, step=0.01, round=False))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, steps, sigma_max, sigma_min, rho):
        from core.sampling.schedulers import karras

        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"KarrasScheduler, input 'sigma_min': {sigma_min} must be above 0 and below sigma_max {sigma_max}")
        return (karras(steps, sigma_min, sigma_max, rho),)


class ExponentialScheduler(Node):
    CATEGORY = CATEGORY + "/schedulers"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (Int("steps", default=20, min=1, max=10000),
              Float("sigma_max", default=14.614642, min=0.0, max=5000.0, step=0.01, round=False),
              Float("sigma_min", default=0.0291675, min=0.0, max=5000.0, step=0.01, round=False))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, steps, sigma_max, sigma_min):
        from core.sampling.schedulers import exponential

        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"ExponentialScheduler, input 'sigma_min': {sigma_min} must be above 0 and below sigma_max {sigma_max}")
        return (exponential(steps, sigma_min, sigma_max),)


class SDTurboScheduler(Node):
    CATEGORY = CATEGORY + "/schedulers"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (In("MODEL", "model"), Int("steps", default=1, min=1, max=10),
              Float("denoise", default=1.0, min=0.0, max=1.0, step=0.01))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, model, steps, denoise):
        from core.sampling.sample import schedule_for
        from core.sampling.schedulers import sd_turbo_sigmas

        return (sd_turbo_sigmas(schedule_for(model), steps, denoise),)


class SplitSigmas(Node):
    CATEGORY = CATEGORY + "/sigmas"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (In("SIGMAS", "sigmas"), Int("step", default=0, min=0, max=10000))
    OUTPUTS = (Output("SIGMAS", "high_sigmas"), Output("SIGMAS", "low_sigmas"))

    def execute(self, sigmas, step):
        return (sigmas[:step + 1], sigmas[step:])


class FlipSigmas(Node):
    CATEGORY = CATEGORY + "/sigmas"
    COMFY_FUNCTION = "get_sigmas"
    INPUTS = (In("SIGMAS", "sigmas"),)
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, sigmas):
        if len(sigmas) == 0:
            return (sigmas,)
        flipped = sigmas.flip(0).clone()
        if flipped[0] == 0:  # a sampler cannot start at sigma 0 (division by sigma)
            flipped[0] = 0.0001
        return (flipped,)


class SamplerCustom(Node):
    CATEGORY = CATEGORY
    COMFY_FUNCTION = "sample"
    INPUTS = (In("MODEL", "model"), Boolean("add_noise", default=True),
              Int("noise_seed", default=0, min=0, max=MAX_SEED, control_after_generate=True),
              Float("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              In("CONDITIONING", "positive"), In("CONDITIONING", "negative"),
              In("SAMPLER", "sampler"), In("SIGMAS", "sigmas"), In("LATENT", "latent_image"))
    OUTPUTS = (Output("LATENT", "output"), Output("LATENT", "denoised_output"))

    def execute(self, model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image):
        import torch

        from core.sampling.sample import prepare_noise, sample_custom

        if not isinstance(latent_image, dict) or "samples" not in latent_image:
            raise ValueError("SamplerCustom, input 'latent_image': expected a LATENT dict with 'samples'")
        samples = latent_image["samples"]
        if add_noise:
            noise = prepare_noise(samples, noise_seed, latent_image.get("batch_index"))
        else:
            noise = torch.zeros_like(samples, dtype=torch.float32)
        out, x0 = sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, samples,
                                latent_image.get("noise_mask"), noise_seed, node="SamplerCustom",
                                return_denoised=True)
        result, denoised = dict(latent_image), dict(latent_image)
        result["samples"], denoised["samples"] = out, x0
        return (result, denoised)


class ManualSigmas(Node):
    CATEGORY = CATEGORY + "/sigmas"
    COMFY_FUNCTION = "execute"
    COMFY_V3 = True
    INPUTS = (String("sigmas", default="1, 0.5"),)
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, sigmas):
        import re

        import torch

        # every number in the text, whatever separates them ("1, 0.5", "1 0.75 0.5 0")
        values = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", sigmas)]
        if not values:
            raise ValueError(f"ManualSigmas, input 'sigmas': no numbers in {sigmas!r}")
        return (torch.tensor(values, dtype=torch.float32),)


NODES = [KSamplerSelect, SamplerLCM, BasicScheduler, KarrasScheduler, ExponentialScheduler, SDTurboScheduler,
         SplitSigmas, FlipSigmas, SamplerCustom, ManualSigmas]
