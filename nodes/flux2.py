"""FLUX.2 nodes of ComfyUI's core (comfy_extras nodes_flux): the empty 128-channel latent, the FLUX.2 schedule and
the reference-KV mode of the [klein] 9B KV model.

Reference images for editing go through ReferenceLatent (the conditioning's ``reference_latents``); the
FLUX.2 transformer appends them to its image tokens (core/models/flux2.py).
"""
from __future__ import annotations

from core.execution.spec import MAX_RESOLUTION, In, Int, Node, Output


class EmptyFlux2LatentImage(Node):
    COMFY_V3 = True  # ComfyUI declares it with its V3 API
    CATEGORY = "latent"
    DISPLAY_NAME = "Empty Flux 2 Latent"
    INPUTS = (Int("width", default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Int("height", default=1024, min=16, max=MAX_RESOLUTION, step=16),
              Int("batch_size", default=1, min=1, max=4096))
    OUTPUTS = (Output("LATENT"),)

    def execute(self, width, height, batch_size=1):
        import torch

        # the FLUX.2 VAE's latent: 32 channels x 2x2 patches at 1/16 of the image (core/models/vae_flux2.py)
        return ({"samples": torch.zeros(batch_size, 128, height // 16, width // 16)},)


class Flux2Scheduler(Node):
    COMFY_V3 = True
    CATEGORY = "sampling/custom_sampling/schedulers"
    INPUTS = (Int("steps", default=20, min=1, max=4096),
              Int("width", default=1024, min=16, max=MAX_RESOLUTION, step=1),
              Int("height", default=1024, min=16, max=MAX_RESOLUTION, step=1))
    OUTPUTS = (Output("SIGMAS"),)

    def execute(self, steps, width, height):
        from core.sampling.flux2_schedule import flux2_sigmas

        return (flux2_sigmas(steps, width, height),)


class FluxKVCache(Node):
    COMFY_V3 = True
    CATEGORY = "advanced/model"
    DISPLAY_NAME = "Flux KV Cache"
    DESCRIPTION = ("Reference images (ReferenceLatent) are read as FLUX.2 [klein] KV models expect: at timestep 0 "
                   "and attending only to each other, so their keys and values stay the same at every step.")
    INPUTS = (In("MODEL", "model"),)
    OUTPUTS = (Output("MODEL"),)

    def execute(self, model):
        from core.models.flux2 import Flux2

        net = getattr(model, "unet", None)
        if not isinstance(net, Flux2):
            family = getattr(getattr(model, "config", None), "family", type(model).__name__)
            raise ValueError(f"FluxKVCache, input 'model': a {family} model has no reference K/V mode; "
                             "it applies to FLUX.2 models (flux-2-klein-9b-kv)")
        out = model.clone()
        out.unet = net.with_reference_kv()  # same modules and weights, reference-KV mode
        return (out,)


NODES = [EmptyFlux2LatentImage, Flux2Scheduler, FluxKVCache]
