"""NOISE and GUIDER socket values of the custom-sampling family (SamplerCustomAdvanced and friends).

A NOISE makes the initial noise for a LATENT (``seed``, ``generate_noise(latent)``); a GUIDER holds a
MODEL and its conditionings and runs a sampler over sigmas (``sample(noise, latent_image, sampler,
sigmas, ...)``), with the attribute and method names ComfyUI's objects have, so packs that build or
call them work.
"""
from __future__ import annotations

import torch

from core.sampling.noise import initial_noise


class RandomNoise:
    def __init__(self, seed: int):
        self.seed = int(seed)

    def generate_noise(self, latent: dict) -> torch.Tensor:
        samples = latent["samples"]
        return initial_noise(samples.shape, self.seed, latent.get("batch_index"))


class EmptyNoise:
    """DisableNoise: zero noise, so sampling starts from the latent itself (e.g. a second pass)."""

    seed = 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return torch.zeros(latent["samples"].shape, dtype=torch.float32)


class CFGGuider:
    """Classifier-free guidance over positive and negative conditioning at scale ``cfg``."""

    def __init__(self, model):
        self.model_patcher = model
        self.conds: dict = {}
        self.cfg = 1.0

    def set_conds(self, positive, negative=None) -> None:
        self.conds = {"positive": positive}
        if negative is not None:
            self.conds["negative"] = negative

    def set_cfg(self, cfg: float) -> None:
        self.cfg = float(cfg)

    def sample_with_denoised(self, noise, latent_image, sampler, sigmas, denoise_mask=None, seed=None,
                             node: str = "SamplerCustomAdvanced"):
        """(raw latent, last denoised raw latent) after ``sampler`` runs over ``sigmas``."""
        from core.sampling.sample import sample_custom

        positive = self.conds.get("positive", [])
        # without a negative (BasicGuider) cfg is 1 and the unconditional pass never runs; CFG++
        # samplers, which need it, see the positive prompt as their unconditional estimate
        negative = self.conds.get("negative", positive)
        return sample_custom(self.model_patcher, noise, self.cfg, sampler, sigmas, positive, negative,
                             latent_image, denoise_mask, 0 if seed is None else int(seed), node=node,
                             return_denoised=True)

    def sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None,
               disable_pbar=False, seed=None):
        return self.sample_with_denoised(noise, latent_image, sampler, sigmas, denoise_mask, seed)[0]


class BasicGuider(CFGGuider):
    """The positive conditioning alone (cfg 1): guidance-distilled models such as FLUX.1 [dev]/[schnell]."""

    def set_conds(self, positive, negative=None) -> None:
        self.conds = {"positive": positive}
