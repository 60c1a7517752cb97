"""The split custom-sampling nodes of current ComfyUI: NOISE and GUIDER values (RandomNoise, DisableNoise,
BasicGuider, CFGGuider, DualCFGGuider) that SamplerCustomAdvanced combines with a SAMPLER and SIGMAS;
SetFirstSigma; and CFGNorm, a post-CFG patch that keeps the guided prediction's per-pixel norm at or below the
conditional one's."""
from __future__ import annotations

from core.execution.spec import MAX_SEED, Boolean, Combo, Float, In, Int, Node, Output

CATEGORY = "sampling/custom_sampling"


class RandomNoiseSource:
    """NOISE: ``generate_noise(latent)`` gives the seeded initial noise of a LATENT (ComfyUI's shape)."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generate_noise(self, latent: dict):
        from core.sampling.sample import prepare_noise

        return prepare_noise(latent["samples"], self.seed, latent.get("batch_index"))


class EmptyNoiseSource:
    seed = 0

    def generate_noise(self, latent: dict):
        import torch

        return torch.zeros_like(latent["samples"], dtype=torch.float32)


class Guider:
    """GUIDER: a model with its conditionings and CFG scale."""

    def __init__(self, model, positive, negative, cfg: float):
        self.model_patcher = self.model = model
        self.positive, self.negative, self.cfg = positive, negative, float(cfg)

    def set_conds(self, positive, negative=None):
        self.positive, self.negative = positive, negative or []

    def set_cfg(self, cfg: float):
        self.cfg = float(cfg)

    guidance = None  # sample_custom's default: CFG over (positive, negative)


class DualGuider(Guider):
    """GUIDER of DualCFGGuider: cond1, cond2 (the middle) and negative, two scales (core/sampling/dual_cfg.py)."""

    def __init__(self, model, cond1, cond2, negative, cfg1: float, cfg2: float, nested: bool):
        super().__init__(model, cond1, negative, cfg1)
        # ComfyUI marks the middle conditioning as a negative prompt (the SDXL refiner's vector reads it)
        self.middle = [[context, {**opts, "prompt_type": "negative"}] for context, opts in cond2]
        self.cfg2, self.nested = float(cfg2), bool(nested)

    def guidance(self, denoiser, prepare, concat, model):
        from core.sampling.dual_cfg import DualCFGDenoiser

        return DualCFGDenoiser(denoiser, prepare(self.positive, False), prepare(self.middle, True),
                               prepare(self.negative, True), self.cfg, self.cfg2, self.nested,
                               model.model_options, concat, model)


class RandomNoise(Node):
    COMFY_FUNCTION = "get_noise"
    CATEGORY = CATEGORY + "/noise"
    INPUTS = (Int("noise_seed", default=0, min=0, max=MAX_SEED, control_after_generate=True),)
    OUTPUTS = (Output("NOISE"),)

    def execute(self, noise_seed):
        return (RandomNoiseSource(noise_seed),)


class DisableNoise(Node):
    COMFY_FUNCTION = "get_noise"
    CATEGORY = CATEGORY + "/noise"
    OUTPUTS = (Output("NOISE"),)

    def execute(self):
        return (EmptyNoiseSource(),)


class BasicGuider(Node):
    COMFY_FUNCTION = "get_guider"
    CATEGORY = CATEGORY + "/guiders"
    INPUTS = (In("MODEL", "model"), In("CONDITIONING", "conditioning"))
    OUTPUTS = (Output("GUIDER"),)

    def execute(self, model, conditioning):
        return (Guider(model, conditioning, [], 1.0),)  # cfg 1: the negative is never evaluated


class CFGGuider(Node):
    COMFY_FUNCTION = "get_guider"
    CATEGORY = CATEGORY + "/guiders"
    INPUTS = (In("MODEL", "model"), In("CONDITIONING", "positive"), In("CONDITIONING", "negative"),
              Float("cfg", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01))
    OUTPUTS = (Output("GUIDER"),)

    def execute(self, model, positive, negative, cfg):
        return (Guider(model, positive, negative, cfg),)


class DualCFGGuider(Node):
    COMFY_FUNCTION = "get_guider"
    CATEGORY = CATEGORY + "/guiders"
    INPUTS = (In("MODEL", "model"), In("CONDITIONING", "cond1"), In("CONDITIONING", "cond2"),
              In("CONDITIONING", "negative"),
              Float("cfg_conds", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              Float("cfg_cond2_negative", default=8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              Combo("style", choices=("regular", "nested")))
    OUTPUTS = (Output("GUIDER"),)

    def execute(self, model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style="regular"):
        return (DualGuider(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style == "nested"),)


class SamplerCustomAdvanced(Node):
    COMFY_FUNCTION = "sample"
    CATEGORY = CATEGORY
    INPUTS = (In("NOISE", "noise"), In("GUIDER", "guider"), In("SAMPLER", "sampler"), In("SIGMAS", "sigmas"),
              In("LATENT", "latent_image"))
    OUTPUTS = (Output("LATENT", "output"), Output("LATENT", "denoised_output"))

    def execute(self, noise, guider, sampler, sigmas, latent_image):
        from core.sampling.sample import sample_custom

        if not isinstance(latent_image, dict) or "samples" not in latent_image:
            raise ValueError("SamplerCustomAdvanced, input 'latent_image': expected a LATENT dict with 'samples'")
        if not isinstance(guider, Guider):
            raise ValueError(f"SamplerCustomAdvanced, input 'guider': expected a GUIDER, got {type(guider).__name__}")
        out, x0 = sample_custom(guider.model, noise.generate_noise(latent_image), guider.cfg, sampler, sigmas,
                                guider.positive, guider.negative, latent_image["samples"],
                                latent_image.get("noise_mask"), getattr(noise, "seed", 0),
                                node="SamplerCustomAdvanced", return_denoised=True, guidance=guider.guidance)
        result, denoised = dict(latent_image), dict(latent_image)
        result["samples"], denoised["samples"] = out, x0
        return (result, denoised)


class SetFirstSigma(Node):
    COMFY_FUNCTION = "set_first_sigma"
    CATEGORY = CATEGORY + "/sigmas"
    INPUTS = (In("SIGMAS", "sigmas"), Float("sigma", default=136.0, min=0.0, max=20000.0, step=0.001, round=False))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, sigmas, sigma):
        out = sigmas.clone()
        out[0] = sigma
        return (out,)


def _channel_norm(t):
    return t.norm(dim=1, keepdim=True)


class CFGNorm(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "advanced/guidance"
    DISPLAY_NAME = "CFGNorm"
    INPUTS = (In("MODEL", "model"), Float("strength", default=1.0, min=0.0, max=100.0, step=0.01),
              Boolean("pre_cfg", default=False, optional=True,
                      tooltip="Rescale the guided noise to the conditional noise's norm before the sampler "
                              "combines it (may amplify); off: attenuate the guided x0 after CFG."))
    OUTPUTS = (Output("MODEL", "patched_model"),)

    def execute(self, model, strength, pre_cfg=False):
        patched = model.clone()
        opts = patched.model_options
        if pre_cfg:
            def rescaled_cfg(args):
                # eps-space CFG, then its per-pixel channel norm set to the conditional eps's norm
                cond, uncond = args["cond"], args["uncond"]
                guided = uncond + (cond - uncond) * args["cond_scale"]
                return guided * (_channel_norm(cond) / (_channel_norm(guided) + 1e-8)) * strength
            opts["sampler_cfg_function"] = rescaled_cfg
        else:
            def attenuate(args):
                # x0-space: never let the guided prediction's norm exceed the conditional one's
                cond, denoised = args["cond_denoised"], args["denoised"]
                ratio = (_channel_norm(cond) / (_channel_norm(denoised) + 1e-8)).clamp(0.0, 1.0)
                return denoised * ratio * strength
            opts["sampler_post_cfg_function"] = [*opts.get("sampler_post_cfg_function", []), attenuate]
        return (patched,)


NODES = [RandomNoise, DisableNoise, BasicGuider, CFGGuider, DualCFGGuider, SamplerCustomAdvanced, SetFirstSigma,
         CFGNorm]
